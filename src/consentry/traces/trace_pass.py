"""The traces pass: browser profiles found in the evidence, read for visits to listed AI undress
/ nudify / face-swap services and for downloads whose files are in the case.

1. candidates: locations named ``History`` (Chromium family), ``places.sqlite`` /
   ``downloads.sqlite`` (Firefox), ``History.db`` / ``Downloads.plist`` (Safari), each with its
   ``-wal`` file when the case holds one (un-checkpointed rows count);
2. each is read with ``locate.read_bytes`` (a file, a zip member, a file in a disk image) and
   parsed by ``analyzers.artefacts.browsers`` from a private copy: the evidence file is never
   opened by SQLite. A database that cannot be read is a ``browser_db_unreadable`` problem on
   its location and the pass goes on;
3. kept (``creation_traces``): every visit or download whose host, or for a download the page
   it came from (tab URL, referrer, redirect chain), is a listed service's domain or a subdomain
   of it; and every download whose file is in the case: by SHA-256 where the browser recorded
   one, else by path (``C:\\Users\\x\\Downloads\\a.jpg`` against ``p2/Users/x/Downloads/a.jpg`` in
   a disk image or ``Users/x/Downloads/a.jpg`` below a folder source: the longest common tail of
   at least folder + name), else by name and size. Other history rows are not stored;
4. one ``traces_found`` audit event with the counts and which services list was used (its
   SHA-256, shipped or a file).

Idempotent: trace keys are stable (database location, table row, URL); a rerun replaces each
database's traces with the same rows (no duplicates) and, when nothing changed (same databases,
same list, same inventory), returns at once without a new audit event.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from consentry.analyzers.artefacts.browsers import (
    MAX_DB_BYTES,
    PLIST_NAMES,
    PROFILE_NAMES,
    SQLITE_MAGIC,
    WAL_SUFFIX,
    BrowserDbError,
    ParsedEvent,
    ParseResult,
    browser_from_path,
    file_uri_path,
    host_of,
    parse_profile_file,
)
from consentry.analyzers.artefacts.services import (
    ServicesList,
    load_services_list,
    match_host,
)
from consentry.media.locate import read_bytes
from consentry.records.problems import Code, ItemError, Problem
from consentry.records.progress import Progress
from consentry.records.traces import BrowserEvent, ServiceEntry, TraceRecord
from consentry.store.case_store import CaseStore
from consentry.store.traces_store import CaseFile, ProfileFile, TracesStore

VERSION = "1"
MIN_PATH_COMPONENTS = 2  # a path match needs at least the folder and the file name to agree
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class _Read:
    db: ProfileFile
    result: ParseResult
    wal_used: bool


@dataclass
class _Tally:
    databases: int = 0
    unreadable: int = 0
    skipped_not_sqlite: int = 0
    visits_read: int = 0
    downloads_read: int = 0
    truncated: list[str] = field(default_factory=list)
    by_browser: Counter[str] = field(default_factory=Counter)


def find_traces(
    store: CaseStore,
    examiner: str | None,
    services_file: Path | None,
    progress: Progress | None = None,
) -> int:
    """Bring the case's traces up to date; returns how many traces the case holds."""
    progress = progress or Progress()
    services = load_services_list(services_file)  # the scan checked it before any write
    ts = TracesStore(store.engine)
    files = ts.profile_files()
    by_path = {f.path: f for f in files}
    dbs = [f for f in files if f.name in PROFILE_NAMES]
    if not dbs and ts.trace_count() == 0:
        return 0  # no browser profile in the case: nothing written, no audit event
    offset = ts.local_offset()
    state = _state(services, dbs, by_path, (*ts.location_count(), offset))
    if ts.state() == state:
        return ts.trace_count()
    # a step without counts: the CLI's bar draws a phase's counts only for phases it knows
    progress.phase("traces")
    tally = _Tally()
    problems: list[tuple[int, Problem]] = []
    reads: list[_Read] = []
    for db in dbs:
        outcome = _read_db(db, by_path.get(db.path + WAL_SUFFIX), tally)
        if isinstance(outcome, Problem):
            problems.append((db.location_id, outcome))
        elif outcome is not None:
            # keep only what may become a trace: a large history's other rows go at once
            outcome.result.events = [
                pe
                for pe in outcome.result.events
                if pe.event.kind == "download" or _service_of(pe, services.entries)[1]
            ]
            reads.append(outcome)
    matcher = _DownloadMatcher(ts, [pe for r in reads for pe in r.result.events])
    added = removed = kept_service = kept_download = 0
    for read in reads:
        records = [
            rec
            for pe in read.result.events
            if (rec := _trace(read.db, pe, services.entries, matcher, offset)) is not None
        ]
        kept_service += sum(1 for r in records if r.service_id)
        kept_download += sum(1 for r in records if r.matched_location_id is not None)
        a, g = ts.replace_traces(read.db.location_id, records)
        added, removed = added + a, removed + g
    # a database not read this time (a read error) keeps what it gave before; traces of
    # locations that are no longer profile files (none, as evidence does not change) go
    removed += ts.drop_traces_except(db.location_id for db in dbs)
    if problems:
        store.add_problems(problems)
    total = ts.trace_count()
    store.append_audit(
        "traces_found",
        examiner,
        {
            "version": VERSION,
            "services": {
                "source": services.origin,
                "path": services.path,
                "sha256": services.sha256,
                "entries": len(services.entries),
            },
            "databases": tally.databases,
            "databases_read": len(reads),
            "databases_unreadable": tally.unreadable,
            "by_browser": dict(sorted(tally.by_browser.items())),
            "visits_read": tally.visits_read,
            "downloads_read": tally.downloads_read,
            "traces": total,
            "service_traces": kept_service,
            "downloads_in_case": kept_download,
            "added": added,
            "removed": removed,
            "truncated_tables": tally.truncated,
            "local_offset_min": offset,  # given by the examiner; None: local time unknown
        },
    )
    ts.set_state(state)
    return total


def _state(
    services: ServicesList,
    dbs: list[ProfileFile],
    by_path: dict[str, ProfileFile],
    inventory: tuple[int, int, int | None],
) -> str:
    parts = [VERSION, services.sha256, list(inventory)]
    for db in dbs:
        wal = by_path.get(db.path + WAL_SUFFIX)  # a "(duplicate N)" entry is read alone
        parts.append([db.location_id, db.sha256, db.size, wal.sha256 if wal else None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _read_db(db: ProfileFile, wal: ProfileFile | None, tally: _Tally) -> _Read | Problem | None:
    """Parse one database; a Problem when it cannot be read, None when the file is not one
    (a file called History outside any browser profile that is not SQLite)."""
    shown = db.name
    if db.size is not None and db.size > MAX_DB_BYTES:
        tally.databases += 1
        tally.unreadable += 1
        return Problem(
            Code.BROWSER_DB_UNREADABLE,
            f"browser database {shown}: {db.size} bytes, over the {MAX_DB_BYTES}-byte limit: "
            "not read",
        )
    try:
        data = read_bytes(db.ref)
    except ItemError as exc:
        tally.databases += 1
        tally.unreadable += 1
        return Problem(Code.BROWSER_DB_UNREADABLE, f"browser database {shown}: {exc.message}")
    in_profile = browser_from_path(db.path) is not None
    if (
        db.name not in PLIST_NAMES
        and not data.startswith(SQLITE_MAGIC)
        and not in_profile
        and db.name == "History"
    ):
        tally.skipped_not_sqlite += 1
        return None  # a file named History that is no database, outside a browser's folders
    tally.databases += 1
    wal_bytes: bytes | None = None
    if wal is not None:
        try:
            wal_bytes = read_bytes(wal.ref)
        except ItemError:
            wal_bytes = None  # the main file alone still reads; its -wal's own problem stands
    try:
        result = parse_profile_file(db.name, data, wal_bytes, _folder(db.path), db.path)
    except BrowserDbError as exc:
        tally.unreadable += 1
        return Problem(Code.BROWSER_DB_UNREADABLE, f"browser database {shown}: {exc}")
    except Exception as exc:  # noqa: BLE001 - no input stops the scan; the bug is recorded
        tally.unreadable += 1
        return Problem(
            Code.BROWSER_DB_UNREADABLE,
            f"browser database {shown}: not read ({type(exc).__name__}: {exc})",
        )
    tally.by_browser[result.browser] += 1
    tally.visits_read += sum(1 for e in result.events if e.event.kind == "visit")
    tally.downloads_read += sum(1 for e in result.events if e.event.kind == "download")
    tally.truncated.extend(f"{db.path}: {t}" for t in result.truncated)
    return _Read(db, result, wal_bytes is not None)


def _folder(path: str) -> str:
    cut = max(path.rfind("/"), path.rfind("\\"))
    return path[:cut] if cut > 0 else path


def download_tail(path: str) -> tuple[str, ...]:
    """The components of a path a browser recorded, without drive or home shorthand:
    ``C:\\Users\\x\\Downloads\\a.jpg`` -> ``("Users", "x", "Downloads", "a.jpg")``."""
    p = file_uri_path(path).replace("\\", "/")
    if _DRIVE.match(p):
        p = p[2:]
    if p.startswith("~/"):
        p = p[2:]
    return tuple(x for x in p.split("/") if x and x != ".")


def _common_tail(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n].lower() == b[-1 - n].lower():
        n += 1
    return n


class _DownloadMatcher:
    """Which case file each download became: hash first, then path tail, then name + size."""

    def __init__(self, ts: TracesStore, events: list[ParsedEvent]) -> None:
        downloads = [pe for pe in events if pe.event.kind == "download"]
        names = {t[-1] for pe in downloads if (t := download_tail(pe.event.download_path or ""))}
        self.by_name: dict[str, list[CaseFile]] = defaultdict(list)
        for cf in ts.case_files_named(names):
            self.by_name[cf.tail[-1].lower()].append(cf)
        shas = {pe.download_sha256 for pe in downloads if pe.download_sha256}
        self.by_sha: dict[str, CaseFile] = {}
        for cf in ts.case_files_with(shas):
            if cf.sha256 is not None:
                self.by_sha.setdefault(cf.sha256, cf)

    def match(self, pe: ParsedEvent) -> tuple[CaseFile, str] | None:
        if pe.download_sha256 and pe.download_sha256 in self.by_sha:
            return self.by_sha[pe.download_sha256], "hash"
        tail = download_tail(pe.event.download_path or "")
        if not tail:
            return None
        best: tuple[int, int, int] | None = None
        chosen: CaseFile | None = None
        for cf in self.by_name.get(tail[-1].lower(), []):
            score = _common_tail(tail, cf.tail)
            exact = int(cf.tail[-score:] == tail[-score:]) if score else 0
            key = (score, exact, -cf.location_id)
            if best is None or key > best:
                best, chosen = key, cf
        if chosen is None or best is None:
            return None
        if best[0] >= MIN_PATH_COMPONENTS or best[0] == len(tail):
            return chosen, "path"
        size = pe.event.download_bytes
        same_size = [
            cf for cf in self.by_name.get(tail[-1].lower(), []) if size and cf.size == size
        ]
        if same_size:
            return min(same_size, key=lambda cf: cf.location_id), "name_size"
        return None


def _service_of(pe: ParsedEvent, services: list[ServiceEntry]) -> tuple[str, ServiceEntry | None]:
    host = host_of(pe.event.url)
    entry = match_host(host, services)
    if entry is None:
        for url in pe.related_urls:
            entry = match_host(host_of(url), services)
            if entry is not None:
                break
    return host, entry


def _trace(
    db: ProfileFile,
    pe: ParsedEvent,
    services: list[ServiceEntry],
    matcher: _DownloadMatcher,
    offset: int | None = None,
) -> TraceRecord | None:
    host, entry = _service_of(pe, services)
    found = matcher.match(pe) if pe.event.kind == "download" else None
    if entry is None and found is None:
        return None
    event: BrowserEvent = pe.event
    key = hashlib.sha256(
        "\x00".join([db.ref.key, event.kind, event.source_row, event.url]).encode(
            "utf-8", errors="surrogatepass"
        )
    ).hexdigest()
    case_file, reason = found if found else (None, None)
    return TraceRecord(
        trace_key=key,
        db_location_id=db.location_id,
        event=event,
        host=host,
        service_id=entry.id if entry else None,
        service_name=entry.name if entry else None,
        # the profile's files do not say; only an offset the examiner gave for the case
        local_offset_min=offset,
        matched_location_id=case_file.location_id if case_file else None,
        matched_sha256=case_file.sha256 if case_file else None,
        match_reason=reason,
    )


__all__ = ["VERSION", "download_tail", "find_traces"]
