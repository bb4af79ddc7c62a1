"""Builders for fake browser profiles (Chrome, Edge, Brave, Firefox, Safari) with history and
downloads, written with sqlite3 / plistlib into a folder laid out like a user's disk
(``Users/<user>/AppData/...`` or ``Users/<user>/Library/Safari``). The schemas are the tables
and columns the browsers write (current versions, trimmed of indexes and tables the traces
pass does not read); times are stored in each browser's own epoch.

``wal=True`` leaves the new rows only in the ``-wal`` file, un-checkpointed, as a browser that
is still running (or was killed) does: a reader that ignores the ``-wal`` file misses them.

Importable by other tests (``from tests.browser_profiles import chrome_profile, Visit, ...``);
nothing here is explicit or a real service's content: the URLs are strings.
"""

from __future__ import annotations

import datetime as dt
import plistlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

UTC = dt.UTC
WEBKIT_EPOCH = dt.datetime(1601, 1, 1, tzinfo=UTC)
MAC_EPOCH = dt.datetime(2001, 1, 1, tzinfo=UTC)
UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Visit:
    url: str
    at: dt.datetime  # aware, UTC
    title: str | None = None


@dataclass(frozen=True)
class Download:
    url: str
    target_path: str  # as the browser records it: C:\Users\alice\Downloads\a.jpg, /Users/...
    at: dt.datetime  # end time (start is 5 s before)
    size: int = 0
    tab_url: str = ""
    referrer: str = ""
    sha256: bytes = b""  # Chromium's downloads.hash (usually empty)


def webkit_us(moment: dt.datetime) -> int:
    return int((moment - WEBKIT_EPOCH).total_seconds() * 1_000_000)


def pr_us(moment: dt.datetime) -> int:
    return int((moment - UNIX_EPOCH).total_seconds() * 1_000_000)


def mac_s(moment: dt.datetime) -> float:
    return (moment - MAC_EPOCH).total_seconds()


def windows_path(user: str, *parts: str) -> str:
    return "C:\\Users\\" + user + "\\" + "\\".join(parts)


# -- writing with or without a live WAL ----------------------------------------------------------
def _write_db(
    dest: Path, schema: str, fill: Callable[[sqlite3.Connection], None], wal: bool
) -> Path:
    """Create ``dest`` with ``schema``; ``fill`` inserts the rows. With ``wal`` the schema is
    checkpointed into the main file and the rows stay in ``dest-wal`` only."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="browser-profile-"))
    try:
        db = scratch / dest.name
        con = sqlite3.connect(db, isolation_level=None)
        if wal:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA wal_autocheckpoint=0")
        con.executescript(schema)
        if wal:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema in the main file
        con.execute("BEGIN")
        fill(con)
        con.execute("COMMIT")
        if wal:
            # copy while the connection is open: closing would checkpoint and delete the -wal
            shutil.copyfile(db, dest)
            shutil.copyfile(str(db) + "-wal", str(dest) + "-wal")
            con.close()
        else:
            con.close()
            shutil.copyfile(db, dest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dest


# -- Chromium: Chrome, Edge, Brave ----------------------------------------------------------------
CHROMIUM_SCHEMA = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE urls(id INTEGER PRIMARY KEY AUTOINCREMENT, url LONGVARCHAR, title LONGVARCHAR,
  visit_count INTEGER DEFAULT 0 NOT NULL, typed_count INTEGER DEFAULT 0 NOT NULL,
  last_visit_time INTEGER NOT NULL, hidden INTEGER DEFAULT 0 NOT NULL);
CREATE TABLE visits(id INTEGER PRIMARY KEY AUTOINCREMENT, url INTEGER NOT NULL,
  visit_time INTEGER NOT NULL, from_visit INTEGER, transition INTEGER DEFAULT 0 NOT NULL,
  segment_id INTEGER, visit_duration INTEGER DEFAULT 0 NOT NULL,
  incremented_omnibox_typed_score BOOLEAN DEFAULT FALSE NOT NULL, opener_visit INTEGER,
  originator_cache_guid TEXT, originator_visit_id INTEGER, originator_from_visit INTEGER,
  originator_opener_visit INTEGER, is_known_to_sync BOOLEAN DEFAULT FALSE NOT NULL,
  consider_for_ntp_most_visited BOOLEAN DEFAULT FALSE NOT NULL, external_referrer_url TEXT,
  visited_link_id INTEGER);
CREATE TABLE downloads (id INTEGER PRIMARY KEY, guid VARCHAR NOT NULL,
  current_path LONGVARCHAR NOT NULL, target_path LONGVARCHAR NOT NULL,
  start_time INTEGER NOT NULL, received_bytes INTEGER NOT NULL, total_bytes INTEGER NOT NULL,
  state INTEGER NOT NULL, danger_type INTEGER NOT NULL, interrupt_reason INTEGER NOT NULL,
  hash BLOB NOT NULL, end_time INTEGER NOT NULL, opened INTEGER NOT NULL,
  last_access_time INTEGER NOT NULL, transient INTEGER NOT NULL, referrer VARCHAR NOT NULL,
  site_url VARCHAR NOT NULL, embedder_download_data VARCHAR NOT NULL, tab_url VARCHAR NOT NULL,
  tab_referrer_url VARCHAR NOT NULL, http_method VARCHAR NOT NULL, by_ext_id VARCHAR NOT NULL,
  by_ext_name VARCHAR NOT NULL, by_web_app_id VARCHAR NOT NULL, etag VARCHAR NOT NULL,
  last_modified VARCHAR NOT NULL, mime_type VARCHAR(255) NOT NULL,
  original_mime_type VARCHAR(255) NOT NULL);
CREATE TABLE downloads_url_chains (id INTEGER NOT NULL, chain_index INTEGER NOT NULL,
  url LONGVARCHAR NOT NULL, PRIMARY KEY (id, chain_index));
INSERT INTO meta VALUES ('version', '68'), ('last_compatible_version', '16');
"""

CHROMIUM_DIRS = {
    "chrome": ("AppData", "Local", "Google", "Chrome", "User Data", "Default"),
    "edge": ("AppData", "Local", "Microsoft", "Edge", "User Data", "Default"),
    "brave": ("AppData", "Local", "BraveSoftware", "Brave-Browser", "User Data", "Default"),
}


def chromium_history(
    dest: Path, visits: Sequence[Visit], downloads: Sequence[Download] = (), wal: bool = False
) -> Path:
    def fill(con: sqlite3.Connection) -> None:
        ids: dict[str, int] = {}
        for v in visits:
            if v.url not in ids:
                cur = con.execute(
                    "INSERT INTO urls(url, title, visit_count, last_visit_time) VALUES (?,?,0,?)",
                    (v.url, v.title, webkit_us(v.at)),
                )
                ids[v.url] = int(cur.lastrowid or 0)
            con.execute(
                "UPDATE urls SET visit_count = visit_count + 1, last_visit_time = "
                "max(last_visit_time, ?) WHERE id = ?",
                (webkit_us(v.at), ids[v.url]),
            )
            con.execute(
                "INSERT INTO visits(url, visit_time, transition) VALUES (?, ?, 805306368)",
                (ids[v.url], webkit_us(v.at)),
            )
        for n, d in enumerate(downloads, start=1):
            end = webkit_us(d.at)
            con.execute(
                "INSERT INTO downloads VALUES (?,?,?,?,?,?,?,1,0,0,?,?,0,?,0,?,?,'',?,'','GET',"
                "'','','','','','image/jpeg','image/jpeg')",
                (n, f"guid-{n}", d.target_path, d.target_path, end - 5_000_000, d.size, d.size,
                 d.sha256, end, end, d.referrer, d.tab_url or d.referrer, d.tab_url),
            )  # fmt: skip
            con.execute("INSERT INTO downloads_url_chains VALUES (?, 0, ?)", (n, d.url))

    return _write_db(dest, CHROMIUM_SCHEMA, fill, wal)


def chrome_profile(
    root: Path,
    user: str = "alice",
    visits: Sequence[Visit] = (),
    downloads: Sequence[Download] = (),
    browser: str = "chrome",
    wal: bool = False,
) -> Path:
    """``root/Users/<user>/AppData/Local/<browser's folders>/Default/History``; ``browser``:
    chrome | edge | brave. Returns the History file's path."""
    dest = root.joinpath("Users", user, *CHROMIUM_DIRS[browser], "History")
    return chromium_history(dest, visits, downloads, wal)


def edge_profile(root: Path, user: str = "alice", **kw: object) -> Path:
    return chrome_profile(root, user, browser="edge", **kw)  # type: ignore[arg-type]


# -- Firefox ------------------------------------------------------------------------------------
FIREFOX_SCHEMA = """
CREATE TABLE moz_origins (id INTEGER PRIMARY KEY, prefix TEXT NOT NULL, host TEXT NOT NULL,
  frecency INTEGER NOT NULL, recalc_frecency INTEGER NOT NULL DEFAULT 0, alt_frecency INTEGER,
  recalc_alt_frecency INTEGER NOT NULL DEFAULT 0, UNIQUE (prefix, host));
CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR,
  rev_host LONGVARCHAR, visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL,
  typed INTEGER DEFAULT 0 NOT NULL, frecency INTEGER DEFAULT -1 NOT NULL,
  last_visit_date INTEGER, guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL,
  url_hash INTEGER DEFAULT 0 NOT NULL, description TEXT, preview_image_url TEXT,
  site_name TEXT, origin_id INTEGER REFERENCES moz_origins(id),
  recalc_frecency INTEGER NOT NULL DEFAULT 0, alt_frecency INTEGER,
  recalc_alt_frecency INTEGER NOT NULL DEFAULT 0);
CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER,
  visit_date INTEGER, visit_type INTEGER, session INTEGER, source INTEGER DEFAULT 0 NOT NULL,
  triggeringPlaceId INTEGER);
CREATE TABLE moz_anno_attributes (id INTEGER PRIMARY KEY, name VARCHAR(32) UNIQUE NOT NULL);
CREATE TABLE moz_annos (id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL,
  anno_attribute_id INTEGER, content LONGVARCHAR, flags INTEGER DEFAULT 0,
  expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0, dateAdded INTEGER DEFAULT 0,
  lastModified INTEGER DEFAULT 0);
CREATE TABLE moz_bookmarks (id INTEGER PRIMARY KEY, type INTEGER, fk INTEGER DEFAULT NULL,
  parent INTEGER, position INTEGER, title LONGVARCHAR, keyword_id INTEGER, folder_type TEXT,
  dateAdded INTEGER, lastModified INTEGER, guid TEXT, syncStatus INTEGER NOT NULL DEFAULT 0,
  syncChangeCounter INTEGER NOT NULL DEFAULT 1);
INSERT INTO moz_anno_attributes(id, name) VALUES (1, 'downloads/destinationFileURI'),
  (2, 'downloads/metaData');
PRAGMA user_version = 78;
"""


def file_uri(path: str) -> str:
    from urllib.parse import quote

    p = path.replace("\\", "/")
    if len(p) >= 2 and p[1] == ":":
        p = "/" + p
    return "file://" + quote(p)


def firefox_places(
    dest: Path, visits: Sequence[Visit], downloads: Sequence[Download] = (), wal: bool = True
) -> Path:
    import json

    def fill(con: sqlite3.Connection) -> None:
        ids: dict[str, int] = {}

        def place(url: str, title: str | None) -> int:
            if url not in ids:
                cur = con.execute(
                    "INSERT INTO moz_places(url, title, rev_host, guid) VALUES (?, ?, '', ?)",
                    (url, title, f"g{len(ids)}"),
                )
                ids[url] = int(cur.lastrowid or 0)
            return ids[url]

        for v in visits:
            pid = place(v.url, v.title)
            con.execute(
                "UPDATE moz_places SET visit_count = visit_count + 1, last_visit_date = "
                "max(coalesce(last_visit_date, 0), ?) WHERE id = ?",
                (pr_us(v.at), pid),
            )
            con.execute(
                "INSERT INTO moz_historyvisits(place_id, visit_date, visit_type, from_visit) "
                "VALUES (?, ?, 1, 0)",
                (pid, pr_us(v.at)),
            )
        for d in downloads:
            page = d.tab_url or d.referrer
            from_visit = 0
            if page:  # the page the download started from, visited just before it
                cur = con.execute(
                    "INSERT INTO moz_historyvisits(place_id, visit_date, visit_type, from_visit) "
                    "VALUES (?, ?, 1, 0)",
                    (place(page, None), pr_us(d.at) - 1_000_000),
                )
                from_visit = int(cur.lastrowid or 0)
            pid = place(d.url, None)
            con.execute(
                "INSERT INTO moz_historyvisits(place_id, visit_date, visit_type, from_visit) "
                "VALUES (?, ?, 7, ?)",
                (pid, pr_us(d.at), from_visit),
            )  # TRANSITION_DOWNLOAD, from the page's visit
            con.execute(
                "INSERT INTO moz_annos(place_id, anno_attribute_id, content, flags, expiration, "
                "type, dateAdded, lastModified) VALUES (?, 1, ?, 0, 4, 3, ?, ?)",
                (pid, file_uri(d.target_path), pr_us(d.at), pr_us(d.at)),
            )
            meta = {"state": 1, "endTime": int(pr_us(d.at) / 1000), "fileSize": d.size}
            con.execute(
                "INSERT INTO moz_annos(place_id, anno_attribute_id, content, flags, expiration, "
                "type, dateAdded, lastModified) VALUES (?, 2, ?, 0, 4, 3, ?, ?)",
                (pid, json.dumps(meta), pr_us(d.at), pr_us(d.at)),
            )

    return _write_db(dest, FIREFOX_SCHEMA, fill, wal)


def firefox_profile(
    root: Path,
    user: str = "alice",
    visits: Sequence[Visit] = (),
    downloads: Sequence[Download] = (),
    wal: bool = True,
) -> Path:
    """``root/Users/<user>/AppData/Roaming/Mozilla/Firefox/Profiles/x1y2z3.default-release/
    places.sqlite`` (Firefox keeps places.sqlite in WAL mode: ``wal`` defaults to True)."""
    dest = root.joinpath(
        "Users", user, "AppData", "Roaming", "Mozilla", "Firefox", "Profiles",
        "x1y2z3.default-release", "places.sqlite",
    )  # fmt: skip
    return firefox_places(dest, visits, downloads, wal)


# -- Safari -------------------------------------------------------------------------------------
SAFARI_SCHEMA = """
CREATE TABLE history_items (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE,
  domain_expansion TEXT NULL, visit_count INTEGER NOT NULL, daily_visit_counts BLOB NOT NULL,
  weekly_visit_counts BLOB NULL, autocomplete_triggers BLOB NULL,
  should_recompute_derived_visit_counts INTEGER NOT NULL, visit_count_score INTEGER NOT NULL,
  status_code INTEGER NOT NULL DEFAULT 0);
CREATE TABLE history_visits (id INTEGER PRIMARY KEY AUTOINCREMENT,
  history_item INTEGER NOT NULL REFERENCES history_items(id) ON DELETE CASCADE,
  visit_time REAL NOT NULL, title TEXT NULL, load_successful BOOLEAN NOT NULL DEFAULT 1,
  http_non_get BOOLEAN NOT NULL DEFAULT 0, synthesized BOOLEAN NOT NULL DEFAULT 0,
  redirect_source INTEGER NULL UNIQUE, redirect_destination INTEGER NULL UNIQUE,
  origin INTEGER NOT NULL DEFAULT 0, generation INTEGER NOT NULL DEFAULT 0,
  attributes INTEGER NOT NULL DEFAULT 0, score INTEGER NOT NULL DEFAULT 0);
CREATE TABLE metadata (key TEXT NOT NULL UNIQUE, value);
INSERT INTO metadata VALUES ('version', 20);
"""


def safari_history(dest: Path, visits: Sequence[Visit], wal: bool = True) -> Path:
    def fill(con: sqlite3.Connection) -> None:
        ids: dict[str, int] = {}
        for v in visits:
            if v.url not in ids:
                cur = con.execute(
                    "INSERT INTO history_items(url, visit_count, daily_visit_counts, "
                    "should_recompute_derived_visit_counts, visit_count_score) "
                    "VALUES (?, 0, x'', 0, 0)",
                    (v.url,),
                )
                ids[v.url] = int(cur.lastrowid or 0)
            con.execute(
                "UPDATE history_items SET visit_count = visit_count + 1 WHERE id = ?",
                (ids[v.url],),
            )
            con.execute(
                "INSERT INTO history_visits(history_item, visit_time, title) VALUES (?, ?, ?)",
                (ids[v.url], mac_s(v.at), v.title),
            )

    return _write_db(dest, SAFARI_SCHEMA, fill, wal)


def safari_downloads_plist(dest: Path, downloads: Sequence[Download], binary: bool = True) -> Path:
    items = [
        {
            "DownloadEntryIdentifier": f"ID-{n}",
            "DownloadEntryURL": d.url,
            "DownloadEntryPath": d.target_path,
            "DownloadEntryProgressBytesSoFar": d.size,
            "DownloadEntryProgressTotalToLoad": d.size,
            "DownloadEntryDateAddedKey": (d.at - dt.timedelta(seconds=5)).replace(tzinfo=None),
            "DownloadEntryDateFinishedKey": d.at.replace(tzinfo=None),
        }
        for n, d in enumerate(downloads, start=1)
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fmt = plistlib.FMT_BINARY if binary else plistlib.FMT_XML
    dest.write_bytes(plistlib.dumps({"DownloadHistory": items}, fmt=fmt))
    return dest


def safari_profile(
    root: Path,
    user: str = "alice",
    visits: Sequence[Visit] = (),
    downloads: Sequence[Download] = (),
    wal: bool = True,
) -> Path:
    """``root/Users/<user>/Library/Safari/History.db`` (+ ``Downloads.plist`` when there are
    downloads); returns the History.db path."""
    folder = root.joinpath("Users", user, "Library", "Safari")
    if downloads:
        safari_downloads_plist(folder / "Downloads.plist", downloads)
    return safari_history(folder / "History.db", visits, wal)


__all__ = [
    "Download",
    "Visit",
    "chrome_profile",
    "chromium_history",
    "edge_profile",
    "file_uri",
    "firefox_places",
    "firefox_profile",
    "mac_s",
    "pr_us",
    "safari_downloads_plist",
    "safari_history",
    "safari_profile",
    "webkit_us",
    "windows_path",
]
