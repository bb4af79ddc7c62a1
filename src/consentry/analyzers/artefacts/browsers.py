"""Browser history and downloads, parsed from the bytes of a profile's database files.

Supported (schemas as written by the browsers; see tests/browser_profiles.py):

- Chromium family (Chrome, Edge, Brave, Opera, Vivaldi, Chromium): ``History`` (SQLite):
  ``urls`` + ``visits`` (``visit_time``: WebKit microseconds since 1601-01-01 UTC), ``downloads``
  + ``downloads_url_chains`` (``target_path``, ``current_path``, ``received_bytes``,
  ``start_time``/``end_time``, ``tab_url``, ``referrer``, and ``hash`` where recorded);
- Firefox: ``places.sqlite``: ``moz_places`` + ``moz_historyvisits`` (``visit_date``: PRTime,
  microseconds since 1970 UTC), downloads as ``moz_annos`` ``downloads/destinationFileURI`` (and
  ``downloads/metaData`` for size and end time); the old ``downloads.sqlite`` (``moz_downloads``);
- Safari: ``History.db``: ``history_items`` + ``history_visits`` (``visit_time``: seconds since
  2001-01-01 UTC, Mac absolute time); ``Downloads.plist`` (``DownloadHistory``, via plistlib).

Evidence is never opened in place: the database bytes (and its ``-wal`` file's bytes, whose
un-checkpointed rows count) are written into a private temporary folder, opened there with
``trusted_schema`` off and ``query_only`` on, and the copy is deleted afterwards. Whatever the
bytes hold (random data, a truncated file, another program's database, a hostile schema) the
answer is ``BrowserDbError`` with one line, never a crash. Work is bounded: at most
``MAX_DB_BYTES`` read, at most ``MAX_ROWS`` rows per table, and a time budget per database.

All times are UTC as the browsers store them; the local offset of the machine is not in these
files (``at_utc`` only).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import plistlib
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from consentry.records.traces import BrowserEvent

MAX_DB_BYTES = 1024 * 1024 * 1024  # 1 GiB: a very large history; past it the file is refused
MAX_ROWS = 1_000_000  # per table read
TIME_BUDGET_S = 120.0  # per database
SQLITE_MAGIC = b"SQLite format 3\x00"

HISTORY_NAMES = frozenset({"History", "places.sqlite", "History.db", "downloads.sqlite"})
PLIST_NAMES = frozenset({"Downloads.plist"})
PROFILE_NAMES = HISTORY_NAMES | PLIST_NAMES
WAL_SUFFIX = "-wal"

_WEBKIT_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
_MAC_EPOCH = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
_UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# where a profile lives, by browser (compared on the path with / separators, case-insensitive)
_PATH_HINTS: tuple[tuple[str, str], ...] = (
    ("/bravesoftware/", "brave"),
    ("/microsoft/edge", "edge"),
    ("/microsoft-edge", "edge"),
    ("/google/chrome", "chrome"),
    ("/google-chrome", "chrome"),
    ("/chromium/", "chromium"),
    ("/opera software/", "opera"),
    ("/com.operasoftware.", "opera"),
    ("/vivaldi/", "vivaldi"),
    ("/firefox/profiles/", "firefox"),
    ("/.mozilla/firefox/", "firefox"),
    ("/library/safari/", "safari"),
)


class BrowserDbError(Exception):
    """The bytes are not a browser database this module can read (one line)."""


@dataclass(frozen=True)
class ParsedEvent:
    """A browser event and the other URLs its row names (a download's tab and referrer pages,
    its redirect chain): a download served from a CDN is matched by the page it came from."""

    event: BrowserEvent
    related_urls: tuple[str, ...] = ()
    download_sha256: str | None = None  # Chromium's downloads.hash, when the browser kept one


@dataclass
class ParseResult:
    browser: str
    schema: str  # chromium | firefox | firefox_downloads | safari | safari_downloads
    events: list[ParsedEvent] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)  # tables read only up to MAX_ROWS


def browser_from_path(path: str) -> str | None:
    p = "/" + path.replace("\\", "/").lower()
    for hint, browser in _PATH_HINTS:
        if hint in p:
            return browser
    return None


def looks_like_profile_path(path: str) -> bool:
    return browser_from_path(path) is not None


def parse_profile_file(
    name: str, data: bytes, wal: bytes | None, profile: str, path_hint: str
) -> ParseResult:
    """Parse one profile database file (``name`` its file name, ``data`` its bytes, ``wal`` its
    ``-wal`` file's bytes). Raises BrowserDbError."""
    if len(data) > MAX_DB_BYTES or (wal is not None and len(wal) > MAX_DB_BYTES):
        raise BrowserDbError(f"larger than {MAX_DB_BYTES} bytes: not read")
    hinted = browser_from_path(path_hint)
    try:
        if name in PLIST_NAMES:
            return parse_safari_downloads(data, profile)
        return parse_history_db(data, wal, profile, hinted)
    except (ValueError, OverflowError, TypeError, KeyError, IndexError, RecursionError) as exc:
        # a value no browser writes (an infinite size, a text where a number belongs ...)
        raise BrowserDbError(f"unexpected content: {type(exc).__name__}: {exc}") from None


# -- SQLite -----------------------------------------------------------------------------------
@contextmanager
def private_copy(data: bytes, wal: bytes | None) -> Iterator[sqlite3.Connection]:
    """The database opened from a private copy (deleted on exit), read-only by pragma, with a
    deadline checked by a progress handler."""
    if not data.startswith(SQLITE_MAGIC):
        raise BrowserDbError("not an SQLite database (no SQLite header)")
    folder = tempfile.mkdtemp(prefix="consentry-browserdb-")
    con: sqlite3.Connection | None = None
    try:
        db = os.path.join(folder, "db.sqlite")
        with open(db, "wb") as fh:
            fh.write(data)
        if wal:
            with open(db + WAL_SUFFIX, "wb") as fh:
                fh.write(wal)
        deadline = time.monotonic() + TIME_BUDGET_S
        try:
            con = sqlite3.connect(db, timeout=0, isolation_level=None)
            con.set_progress_handler(lambda: int(time.monotonic() > deadline), 20_000)
            con.execute("PRAGMA trusted_schema=OFF")
            con.execute("PRAGMA cell_size_check=ON")
            con.execute("PRAGMA query_only=ON")
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise BrowserDbError(f"SQLite cannot open it: {exc}") from None
        yield con
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(folder, ignore_errors=True)


def _tables(con: sqlite3.Connection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {str(r[1]) for r in con.execute(f'PRAGMA table_info("{table}")')}


def parse_history_db(
    data: bytes, wal: bytes | None, profile: str, hinted: str | None
) -> ParseResult:
    try:
        with private_copy(data, wal) as con:
            tables = _tables(con)
            if {"urls", "visits"} <= tables:
                result = ParseResult(hinted or "chromium", "chromium")
                _chromium(con, tables, result, profile)
            elif "moz_places" in tables:
                result = ParseResult("firefox", "firefox")
                _firefox(con, tables, result, profile)
            elif "moz_downloads" in tables:
                result = ParseResult("firefox", "firefox_downloads")
                _firefox_old_downloads(con, result, profile)
            elif {"history_items", "history_visits"} <= tables:
                result = ParseResult("safari", "safari")
                _safari(con, result, profile)
            else:
                shown = ", ".join(sorted(tables)[:6]) or "none"
                raise BrowserDbError(f"not a browser history database (tables: {shown})")
            return result
    except sqlite3.Error as exc:  # malformed pages met while reading, the time budget, ...
        message = "took longer than the time budget" if "interrupt" in str(exc) else str(exc)
        raise BrowserDbError(f"SQLite stopped reading it: {message}") from None


def _rows(
    con: sqlite3.Connection, sql: str, table: str, result: ParseResult
) -> Iterator[sqlite3.Row]:
    con.row_factory = sqlite3.Row
    for n, row in enumerate(con.execute(f"{sql} LIMIT {MAX_ROWS + 1}"), start=1):
        if n > MAX_ROWS:
            result.truncated.append(table)
            return
        yield row


def _text(v: object) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    return str(v)


def _int(v: object) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, (str, bytes)):
        try:
            return int(v)
        except ValueError:
            return None
    return None


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _from_epoch(epoch: dt.datetime, value: object, per_second: float) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    if number <= 0:
        return None
    try:
        moment = epoch + dt.timedelta(seconds=number / per_second)
    except (OverflowError, ValueError):
        return None
    if not 1990 <= moment.year <= 2200:  # outside any plausible clock: not a time stamp
        return None
    return _iso(moment)


def webkit_time(us: object) -> str | None:
    return _from_epoch(_WEBKIT_EPOCH, us, 1_000_000)


def prtime(us: object) -> str | None:
    return _from_epoch(_UNIX_EPOCH, us, 1_000_000)


def mac_time(seconds: object) -> str | None:
    return _from_epoch(_MAC_EPOCH, seconds, 1)


def _chromium(con: sqlite3.Connection, tables: set[str], result: ParseResult, profile: str) -> None:
    browser = result.browser
    visited: set[int] = set()
    for r in _rows(
        con,
        "SELECT v.id AS vid, v.url AS uid, u.url AS url, u.title AS title, v.visit_time AS t "
        "FROM visits v JOIN urls u ON u.id = v.url ORDER BY v.id",
        "visits",
        result,
    ):
        url = _text(r["url"])
        if not url:
            continue
        uid = _int(r["uid"])
        if uid is not None:
            visited.add(uid)
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    browser,
                    profile,
                    "visit",
                    url,
                    _text(r["title"]),
                    webkit_time(r["t"]),
                    source_row=f"urls.id={uid}, visits.id={_int(r['vid'])}",
                )
            )
        )
    # a URL whose visit rows expired keeps its last visit time in urls
    for r in _rows(
        con, "SELECT id, url, title, last_visit_time AS t FROM urls ORDER BY id", "urls", result
    ):
        uid = _int(r["id"])
        url = _text(r["url"])
        if uid in visited or not url:
            continue
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    browser,
                    profile,
                    "visit",
                    url,
                    _text(r["title"]),
                    webkit_time(r["t"]),
                    source_row=f"urls.id={uid} (last_visit_time, no visits row)",
                )
            )
        )
    if "downloads" not in tables:
        return
    cols = _columns(con, "downloads")
    wanted = [c for c in ("id", "current_path", "target_path", "start_time", "end_time",
                          "received_bytes", "total_bytes", "tab_url", "referrer", "site_url",
                          "tab_referrer_url", "hash", "url") if c in cols]  # fmt: skip
    if "id" not in wanted:
        return
    chains: dict[int, list[str]] = {}
    if "downloads_url_chains" in tables:
        for r in _rows(
            con,
            "SELECT id, chain_index, url FROM downloads_url_chains ORDER BY id, chain_index",
            "downloads_url_chains",
            result,
        ):
            did, url = _int(r["id"]), _text(r["url"])
            if did is not None and url:
                chains.setdefault(did, []).append(url)
    for r in _rows(
        con, f"SELECT {', '.join(wanted)} FROM downloads ORDER BY id", "downloads", result
    ):
        row = {k: r[k] for k in wanted}
        did = _int(row["id"])
        chain = chains.get(did, []) if did is not None else []
        url = chain[-1] if chain else (_text(row.get("url")) or "")
        path = _text(row.get("target_path")) or _text(row.get("current_path"))
        related = [*chain[:-1]]
        extra = []
        for key in ("tab_url", "referrer", "site_url", "tab_referrer_url"):
            value = _text(row.get(key))
            if value:
                related.append(value)
                extra.append(f"{key}={value}")
        when = webkit_time(row.get("end_time")) or webkit_time(row.get("start_time"))
        digest = row.get("hash")
        sha = digest.hex() if isinstance(digest, bytes) and len(digest) == 32 else None
        size = _int(row.get("received_bytes")) or _int(row.get("total_bytes"))
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    browser,
                    profile,
                    "download",
                    url,
                    None,
                    when,
                    download_path=path,
                    download_bytes=size,
                    source_row="; ".join([f"downloads.id={did}", *extra]),
                ),
                tuple(dict.fromkeys(related)),
                sha,
            )
        )


def file_uri_path(uri: str) -> str:
    """``file:///C:/Users/x/a.jpg`` -> ``C:/Users/x/a.jpg``; ``file:///home/x/a.jpg`` ->
    ``/home/x/a.jpg``; anything else unchanged."""
    if not uri.lower().startswith("file:"):
        return uri
    path = unquote(urlsplit(uri).path)
    if len(path) >= 3 and path[0] == "/" and path[2] == ":":
        path = path[1:]
    return path


def _firefox(con: sqlite3.Connection, tables: set[str], result: ParseResult, profile: str) -> None:
    visited: set[int] = set()
    if "moz_historyvisits" in tables:
        for r in _rows(
            con,
            "SELECT v.id AS vid, v.place_id AS pid, p.url AS url, p.title AS title, "
            "v.visit_date AS t FROM moz_historyvisits v JOIN moz_places p ON p.id = v.place_id "
            "ORDER BY v.id",
            "moz_historyvisits",
            result,
        ):
            url = _text(r["url"])
            pid = _int(r["pid"])
            if pid is not None:
                visited.add(pid)
            if not url:
                continue
            result.events.append(
                ParsedEvent(
                    BrowserEvent(
                        "firefox",
                        profile,
                        "visit",
                        url,
                        _text(r["title"]),
                        prtime(r["t"]),
                        source_row=f"moz_places.id={pid}, moz_historyvisits.id={_int(r['vid'])}",
                    )
                )
            )
    place_cols = _columns(con, "moz_places")
    last = "last_visit_date" if "last_visit_date" in place_cols else "NULL"
    for r in _rows(
        con,
        f"SELECT id, url, title, {last} AS t FROM moz_places ORDER BY id",
        "moz_places",
        result,
    ):
        pid = _int(r["id"])
        url = _text(r["url"])
        if pid in visited or not url or r["t"] is None:
            continue  # never visited (a bookmark, a download's source without a visit)
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    "firefox",
                    profile,
                    "visit",
                    url,
                    _text(r["title"]),
                    prtime(r["t"]),
                    source_row=f"moz_places.id={pid} (last_visit_date, no visits row)",
                )
            )
        )
    if not {"moz_annos", "moz_anno_attributes"} <= tables:
        return
    meta: dict[int, dict[str, object]] = {}
    dests: list[tuple[int, int | None, str, object]] = []
    for r in _rows(
        con,
        "SELECT a.id AS aid, a.place_id AS pid, n.name AS name, a.content AS content, "
        "a.dateAdded AS added FROM moz_annos a JOIN moz_anno_attributes n "
        "ON n.id = a.anno_attribute_id WHERE n.name IN "
        "('downloads/destinationFileURI', 'downloads/metaData') ORDER BY a.id",
        "moz_annos",
        result,
    ):
        pid = _int(r["pid"])
        content = _text(r["content"]) or ""
        if pid is None:
            continue
        if r["name"] == "downloads/metaData":
            try:
                parsed = json.loads(content)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                meta[pid] = parsed
        else:
            dests.append((pid, _int(r["aid"]), content, r["added"]))
    urls: dict[int, str | None] = {}
    pages: dict[int, list[str]] = {}
    has_from = (
        "from_visit" in _columns(con, "moz_historyvisits")
        if "moz_historyvisits" in tables
        else False
    )
    for pid, *_ in dests[:MAX_ROWS]:
        row = con.execute("SELECT url FROM moz_places WHERE id = ?", (pid,)).fetchone()
        urls[pid] = _text(row[0]) if row else None
        if has_from:
            # the download's own visit (visit_type 7) points at the page it was started from
            pages[pid] = [
                u
                for (u,) in con.execute(
                    "SELECT p.url FROM moz_historyvisits d JOIN moz_historyvisits v "
                    "ON v.id = d.from_visit JOIN moz_places p ON p.id = v.place_id "
                    "WHERE d.place_id = ? AND d.visit_type = 7 LIMIT 8",
                    (pid,),
                )
                if isinstance(u, str) and u
            ]
    for pid, aid, content, added in dests:
        info = meta.get(pid, {})
        end = info.get("endTime")  # milliseconds since 1970
        when = (
            _from_epoch(_UNIX_EPOCH, end, 1000) if isinstance(end, (int, float)) else None
        ) or prtime(added)
        size = info.get("fileSize")
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    "firefox",
                    profile,
                    "download",
                    urls.get(pid) or "",
                    None,
                    when,
                    download_path=file_uri_path(content),
                    download_bytes=_int(size) if isinstance(size, int) else None,
                    source_row=f"moz_annos.id={aid} (downloads/destinationFileURI), "
                    f"moz_places.id={pid}"
                    + "".join(f"; from_visit page={u}" for u in pages.get(pid, [])),
                ),
                tuple(dict.fromkeys(pages.get(pid, []))),
            )
        )


def _firefox_old_downloads(con: sqlite3.Connection, result: ParseResult, profile: str) -> None:
    cols = _columns(con, "moz_downloads")
    wanted = [c for c in ("id", "source", "target", "startTime", "endTime", "currBytes",
                          "referrer") if c in cols]  # fmt: skip
    if not {"id", "source", "target"} <= set(wanted):
        raise BrowserDbError("moz_downloads without id/source/target columns")
    for r in _rows(con, f"SELECT {', '.join(wanted)} FROM moz_downloads ORDER BY id",
                   "moz_downloads", result):  # fmt: skip
        row = {k: r[k] for k in wanted}
        referrer = _text(row.get("referrer"))
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    "firefox",
                    profile,
                    "download",
                    _text(row["source"]) or "",
                    None,
                    prtime(row.get("endTime")) or prtime(row.get("startTime")),
                    download_path=file_uri_path(_text(row["target"]) or ""),
                    download_bytes=_int(row.get("currBytes")),
                    source_row=f"moz_downloads.id={_int(row['id'])}",
                ),
                (referrer,) if referrer else (),
            )
        )


def _safari(con: sqlite3.Connection, result: ParseResult, profile: str) -> None:
    cols = _columns(con, "history_visits")
    title = "v.title" if "title" in cols else "NULL"
    for r in _rows(
        con,
        f"SELECT v.id AS vid, v.history_item AS iid, i.url AS url, {title} AS title, "
        "v.visit_time AS t FROM history_visits v JOIN history_items i ON i.id = v.history_item "
        "ORDER BY v.id",
        "history_visits",
        result,
    ):
        url = _text(r["url"])
        if not url:
            continue
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    "safari",
                    profile,
                    "visit",
                    url,
                    _text(r["title"]),
                    mac_time(r["t"]),
                    source_row=f"history_items.id={_int(r['iid'])}, history_visits.id="
                    f"{_int(r['vid'])}",
                )
            )
        )


# -- Safari's Downloads.plist -----------------------------------------------------------------
def parse_safari_downloads(data: bytes, profile: str) -> ParseResult:
    try:
        doc = plistlib.loads(data)
    except Exception as exc:  # noqa: BLE001 - plistlib raises many kinds on hostile bytes
        raise BrowserDbError(f"not a property list ({type(exc).__name__})") from None
    items = doc.get("DownloadHistory") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise BrowserDbError("a property list without DownloadHistory")
    result = ParseResult("safari", "safari_downloads")
    for n, item in enumerate(items[:MAX_ROWS]):
        if not isinstance(item, dict):
            continue
        url = item.get("DownloadEntryURL")
        path = item.get("DownloadEntryPath")
        if not isinstance(url, str):
            continue
        when = None
        for key in ("DownloadEntryDateFinishedKey", "DownloadEntryDateAddedKey"):
            moment = item.get(key)
            if isinstance(moment, dt.datetime):
                # plistlib gives naive datetimes in UTC
                when = _iso(moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment)
                break
        size = item.get("DownloadEntryProgressTotalToLoad")
        result.events.append(
            ParsedEvent(
                BrowserEvent(
                    "safari",
                    profile,
                    "download",
                    url,
                    None,
                    when,
                    download_path=path if isinstance(path, str) else None,
                    download_bytes=size if isinstance(size, int) else None,
                    source_row=f"DownloadHistory[{n}]",
                )
            )
        )
    if len(items) > MAX_ROWS:
        result.truncated.append("DownloadHistory")
    return result


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


__all__ = [
    "BrowserDbError",
    "HISTORY_NAMES",
    "MAX_DB_BYTES",
    "MAX_ROWS",
    "PLIST_NAMES",
    "PROFILE_NAMES",
    "ParseResult",
    "ParsedEvent",
    "WAL_SUFFIX",
    "browser_from_path",
    "file_uri_path",
    "host_of",
    "looks_like_profile_path",
    "mac_time",
    "parse_history_db",
    "parse_profile_file",
    "parse_safari_downloads",
    "prtime",
    "webkit_time",
]
