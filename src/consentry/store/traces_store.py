"""All SQL of traces of creation: which locations are browser profile files, the case files a
download may be, the stored traces (``creation_traces``) and what the timeline reads.

Read functions return typed records (``StoredTrace``: a ``TraceRecord`` with its row id and
the display paths of its database and of the case file it matched) for the reports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, func, or_, select

from consentry.records.locations import LocationRef
from consentry.records.traces import BrowserEvent, TraceRecord
from consentry.store.case_store import CASE_INFO, CONTENTS, LOCATIONS, _chunks, _insert_ignore
from consentry.store.schema import CreationTrace

TRACES: Table = CreationTrace.__table__  # type: ignore[assignment]
STATE_KEY = "traces.state"
OFFSET_KEY = "traces.local_offset_min"  # the suspect machine's UTC offset, as the examiner gave it
_DUPLICATE = re.compile(r" \(duplicate \d+\)$")
# file names the pass reads (browsers.PROFILE_NAMES and their -wal files); the store layer does
# not import analyzers, so the names are repeated here (checked equal by tests/test_traces.py)
PROFILE_FILE_NAMES = (
    "History",
    "places.sqlite",
    "History.db",
    "downloads.sqlite",
    "Downloads.plist",
)


@dataclass(frozen=True)
class ProfileFile:
    """A location whose name is a browser profile file's (or its ``-wal`` file's)."""

    location_id: int
    path: str  # display path, as recorded
    ref: LocationRef
    size: int | None
    sha256: str | None

    @property
    def name(self) -> str:
        return profile_name(self.path)


@dataclass(frozen=True)
class CaseFile:
    """A location a download may have become: its path split for tail matching."""

    location_id: int
    path: str
    tail: tuple[str, ...]  # path components of the file on its volume / below its source root
    size: int | None
    sha256: str | None
    mtime_ns: int | None
    crtime_ns: int | None


@dataclass(frozen=True)
class StoredTrace:
    """One stored trace with its row id and display paths (what reports and the CLI show)."""

    id: int
    record: TraceRecord
    db_path: str  # the history database's location, as displayed
    matched_path: str | None  # the case file the download matched, as displayed


@dataclass(frozen=True)
class LocationTimes:
    """A location of a content with the times its file system recorded (ns since 1970 UTC)."""

    location_id: int
    path: str
    sha256: str
    mtime_ns: int | None
    crtime_ns: int | None
    ctime_ns: int | None
    deleted: bool | None


def _last(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1].rsplit("!", 1)[-1]


def profile_name(path: str) -> str:
    """The file name of a location, without the ``(duplicate N)`` a deleted entry beside a
    live one of the same name is shown with (a recovered old History is read too)."""
    return _DUPLICATE.sub("", _last(path))


def _ref(r: Any) -> LocationRef:
    return LocationRef(bytes(r.raw_path), tuple(json.loads(r.member_chain)), r.address)


def location_tail(rel_path: str, member_chain: Sequence[str]) -> tuple[str, ...]:
    """Components of a file's path where a browser would have named it: on its volume for a
    file in a disk image, below the source root for a file in a folder, inside its archive for
    a zip member (a copied profile folder that was zipped)."""
    from consentry.records.locations import is_disk_element, split_disk_element, split_member

    if not member_chain:
        parts = rel_path.replace("\\", "/").split("/")
    elif is_disk_element(member_chain[-1]):
        parts = split_disk_element(member_chain[-1])[1].split("/")
    else:
        parts = split_member(member_chain[-1])[0].replace("\\", "/").split("/")
    return tuple(p for p in parts if p and p != ".")


class TracesStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- what the pass reads -------------------------------------------------------------------
    def profile_files(self) -> list[ProfileFile]:
        """Locations named like a profile database or its -wal file, in id order."""
        L = LOCATIONS
        names = [*PROFILE_FILE_NAMES, *(n + "-wal" for n in PROFILE_FILE_NAMES)]
        cond = or_(
            *(L.c.path.like(f"%{n}") for n in names),
            *(L.c.path.like(f"%{n} (duplicate %)") for n in names),
        )
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    L.c.id,
                    L.c.path,
                    L.c.raw_path,
                    L.c.member_chain,
                    L.c.address,
                    L.c.size,
                    L.c.sha256,
                )
                .where(cond)
                .order_by(L.c.id)  # fmt: skip
            ).all()
        wanted = set(names)
        return [
            ProfileFile(r.id, r.path, _ref(r), r.size, r.sha256)
            for r in rows
            if profile_name(r.path) in wanted
        ]

    def case_files_named(self, names: Iterable[str]) -> list[CaseFile]:
        """Files (not archive members) whose name is one of ``names`` (compared case-blind),
        read in one streamed pass over the locations."""
        wanted = {n.lower() for n in names if n}
        if not wanted:
            return []
        L = LOCATIONS
        out: list[CaseFile] = []
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                select(
                    L.c.id,
                    L.c.path,
                    L.c.rel_path,
                    L.c.member_chain,
                    L.c.size,
                    L.c.sha256,
                    L.c.mtime_ns,
                    L.c.crtime_ns,
                )  # fmt: skip
            )
            for r in result:
                if _last(r.path).lower() not in wanted and _last(r.rel_path).lower() not in wanted:
                    continue
                tail = location_tail(r.rel_path, json.loads(r.member_chain))
                if tail and tail[-1].lower() in wanted:
                    out.append(
                        CaseFile(r.id, r.path, tail, r.size, r.sha256, r.mtime_ns, r.crtime_ns)
                    )
        return out

    def case_files_with(self, shas: Iterable[str]) -> list[CaseFile]:
        wanted = sorted(set(shas))
        L = LOCATIONS
        out: list[CaseFile] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                for r in conn.execute(
                    select(
                        L.c.id,
                        L.c.path,
                        L.c.rel_path,
                        L.c.member_chain,
                        L.c.size,
                        L.c.sha256,
                        L.c.mtime_ns,
                        L.c.crtime_ns,
                    )
                    .where(L.c.sha256.in_(chunk))
                    .order_by(L.c.id)  # fmt: skip
                ):
                    tail = location_tail(r.rel_path, json.loads(r.member_chain))
                    out.append(
                        CaseFile(r.id, r.path, tail, r.size, r.sha256, r.mtime_ns, r.crtime_ns)
                    )
        return out

    def location_count(self) -> tuple[int, int]:
        """(number of locations, highest id): changes whenever the inventory grows."""
        with self.engine.connect() as conn:
            row = conn.execute(select(func.count(), func.max(LOCATIONS.c.id))).one()
        return int(row[0]), int(row[1] or 0)

    # -- writing -------------------------------------------------------------------------------
    def replace_traces(
        self, db_location_id: int, records: Sequence[TraceRecord]
    ) -> tuple[int, int]:
        """Make the traces of one database exactly ``records`` (one transaction). A trace that
        was already stored keeps its row id (its key is stable); its matching columns are
        brought up to date. Returns (added, removed)."""
        T = TRACES
        new = {r.trace_key: r for r in records}
        with self.engine.begin() as conn:
            old = {
                row.trace_key: row
                for row in conn.execute(select(T).where(T.c.db_location_id == db_location_id))
            }
            gone = [k for k in old if k not in new]
            for chunk in _chunks(gone):
                conn.execute(T.delete().where(T.c.trace_key.in_(chunk)))
            for key, rec in new.items():
                row = _row(rec)
                if key in old:
                    changed = {c: v for c, v in row.items() if getattr(old[key], c) != v}
                    if changed:
                        conn.execute(T.update().where(T.c.trace_key == key).values(**changed))
            added = [_row(r) for k, r in new.items() if k not in old]
            for lo in range(0, len(added), 500):
                _insert_ignore(conn, T, added[lo : lo + 500], ["trace_key"])
        return len(added), len(gone)

    def drop_traces_except(self, db_location_ids: Iterable[int]) -> int:
        """Remove traces of databases that are no longer read (e.g. a name no longer listed)."""
        keep = set(db_location_ids)
        T = TRACES
        with self.engine.begin() as conn:
            ids = list(conn.execute(select(T.c.db_location_id).distinct()).scalars())
            gone = [i for i in ids if i not in keep]
            n = 0
            for lo in range(0, len(gone), 500):
                n += conn.execute(
                    T.delete().where(T.c.db_location_id.in_(gone[lo : lo + 500]))
                ).rowcount
        return n

    def state(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(CASE_INFO.c.value).where(CASE_INFO.c.key == STATE_KEY)
            ).scalar()

    def set_state(self, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == STATE_KEY))
            conn.execute(CASE_INFO.insert().values(key=STATE_KEY, value=value))

    def local_offset(self) -> int | None:
        """The UTC offset (minutes) of the examined machine's clock, when the examiner gave one
        (``consentry traces --local-offset``); None: unknown (the browsers store UTC only)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(CASE_INFO.c.value).where(CASE_INFO.c.key == OFFSET_KEY)
            ).scalar()
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def set_local_offset(self, minutes: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == OFFSET_KEY))
            if minutes is not None:
                conn.execute(CASE_INFO.insert().values(key=OFFSET_KEY, value=str(minutes)))

    # -- what reports, the CLI and the timeline read ---------------------------------------------
    def traces(
        self,
        service_only: bool = False,
        shas: Iterable[str] | None = None,
    ) -> list[StoredTrace]:
        """Stored traces in time order (undated last). ``service_only``: only those naming a
        listed service; ``shas``: only downloads matched to one of these contents (what a
        person-scoped report may show)."""
        T, L, M = TRACES, LOCATIONS.alias("db"), LOCATIONS.alias("matched")
        stmt = (
            select(T, L.c.path.label("db_path"), M.c.path.label("matched_path"))
            .select_from(
                T.join(L, L.c.id == T.c.db_location_id).outerjoin(
                    M, M.c.id == T.c.matched_location_id
                )
            )
            .order_by(T.c.at_utc.is_(None), T.c.at_utc, T.c.id)
        )
        if service_only:
            stmt = stmt.where(T.c.service_id.is_not(None))
        if shas is not None:
            wanted = sorted(set(shas))
            if not wanted:
                return []
            out: list[StoredTrace] = []
            with self.engine.connect() as conn:
                for chunk in _chunks(wanted):
                    out.extend(
                        _stored(r) for r in conn.execute(stmt.where(T.c.matched_sha256.in_(chunk)))
                    )
            return sorted(
                out,
                key=lambda s: (s.record.event.at_utc is None, s.record.event.at_utc or "", s.id),
            )
        with self.engine.connect() as conn:
            return [_stored(r) for r in conn.execute(stmt)]

    def trace_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TRACES)).scalar_one())

    def location_times(self, shas: Iterable[str]) -> list[LocationTimes]:
        wanted = sorted(set(shas))
        L = LOCATIONS
        out: list[LocationTimes] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                for r in conn.execute(
                    select(
                        L.c.id,
                        L.c.path,
                        L.c.sha256,
                        L.c.mtime_ns,
                        L.c.crtime_ns,
                        L.c.ctime_ns,
                        L.c.deleted,
                    )
                    .where(L.c.sha256.in_(chunk))
                    .order_by(L.c.id)  # fmt: skip
                ):
                    out.append(
                        LocationTimes(
                            r.id, r.path, r.sha256, r.mtime_ns, r.crtime_ns, r.ctime_ns, r.deleted
                        )  # fmt: skip
                    )
        return out

    def exif(self, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(set(shas))
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                for r in conn.execute(
                    select(CONTENTS.c.sha256, CONTENTS.c.exif_json).where(
                        CONTENTS.c.sha256.in_(chunk)
                    )
                ):
                    try:
                        parsed = json.loads(r.exif_json) if r.exif_json else {}
                    except ValueError:
                        parsed = {}
                    out[r.sha256] = parsed if isinstance(parsed, dict) else {}
        return out


def _row(r: TraceRecord) -> dict[str, Any]:
    e = r.event
    return dict(
        trace_key=r.trace_key,
        db_location_id=r.db_location_id,
        browser=e.browser,
        profile=e.profile,
        kind=e.kind,
        url=e.url,
        host=r.host,
        title=e.title,
        service_id=r.service_id,
        service_name=r.service_name,
        at_utc=e.at_utc,
        local_offset_min=r.local_offset_min,
        download_path=e.download_path,
        download_bytes=e.download_bytes,
        matched_location_id=r.matched_location_id,
        matched_sha256=r.matched_sha256,
        match_reason=r.match_reason,
        source_row=e.source_row,
    )


def _stored(r: Any) -> StoredTrace:
    event = BrowserEvent(
        browser=r.browser,
        profile=r.profile,
        kind=r.kind,
        url=r.url,
        title=r.title,
        at_utc=r.at_utc,
        download_path=r.download_path,
        download_bytes=r.download_bytes,
        source_row=r.source_row,
    )
    record = TraceRecord(
        trace_key=r.trace_key,
        db_location_id=r.db_location_id,
        event=event,
        host=r.host,
        service_id=r.service_id,
        service_name=r.service_name,
        local_offset_min=r.local_offset_min,
        matched_location_id=r.matched_location_id,
        matched_sha256=r.matched_sha256,
        match_reason=r.match_reason,
    )
    return StoredTrace(r.id, record, r.db_path, r.matched_path)


__all__ = [
    "PROFILE_FILE_NAMES",
    "profile_name",
    "CaseFile",
    "LocationTimes",
    "ProfileFile",
    "StoredTrace",
    "TracesStore",
    "location_tail",
]
