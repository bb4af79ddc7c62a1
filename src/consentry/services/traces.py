"""Traces of creation for the shells: run the traces pass on a case, list the stored traces,
build the per-person timelines, show or write the services list.

``update_traces`` opens the case for writing (the pass stores its traces, problems and its
``traces_found`` audit event); the readers open it read-only. Shells get typed views, never
store rows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened, opened_readonly

if TYPE_CHECKING:
    from consentry.records.traces import TimelineEvent
    from consentry.store.case import Case
    from consentry.store.traces_store import StoredTrace

TIME_NOTE = (
    "times are UTC as the browsers store them; the machine's time zone is not in these files, "
    "so local time is given only where the examiner set the machine's UTC offset "
    "(--local-offset; one fixed offset, daylight saving time not applied), else "
    "local_offset_min and at_local are null"
)
_OFFSET = re.compile(r"^(?:UTC)?([+-])(\d{1,2}):?(\d{2})$")


def parse_offset(text: str) -> int | None:
    """``+02:00`` / ``-0530`` / ``UTC+01:00`` -> minutes; ``none`` -> None (forget it)."""
    t = text.strip()
    if t.lower() in {"none", "unknown"}:
        return None
    if t.upper() in {"UTC", "Z", "+00:00"}:
        return 0
    m = _OFFSET.match(t.upper())
    if not m or int(m.group(2)) > 14 or int(m.group(3)) >= 60:
        raise ServiceError(
            ErrorCode.MISUSE, f"--local-offset {text!r}: give it as +HH:MM or -HH:MM, or none"
        )
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    return -minutes if m.group(1) == "-" else minutes


def local_time(at_utc: str | None, offset_min: int | None) -> str | None:
    """``2024-05-01T10:00:00Z`` at +120 -> ``2024-05-01T12:00:00+02:00``."""
    if at_utc is None or offset_min is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(at_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    zone = dt.timezone(dt.timedelta(minutes=offset_min))
    return moment.astimezone(zone).isoformat(timespec="seconds")


@dataclass(frozen=True)
class TracesRequest:
    case: CaseRef
    services_file: str | None = None  # a services list (YAML) instead of the shipped one
    examiner: str | None = None
    # the examined machine's UTC offset as the examiner established it ("+02:00"; "none"
    # forgets it); None leaves what the case holds
    local_offset: str | None = None


@dataclass(frozen=True)
class ServiceView:
    id: str
    name: str
    domains: list[str]
    category: str
    added: str
    source: str
    note: str | None


@dataclass(frozen=True)
class ServicesView:
    origin: str  # shipped | file
    path: str
    sha256: str
    services: list[ServiceView]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def source_label(self) -> str:
        if not self.origin:
            return "unknown (the pass has not run on this case)"
        return f"{self.origin} list {self.path} (SHA-256 {self.sha256[:16]}...)"


@dataclass(frozen=True)
class TraceView:
    """One stored trace as a shell shows it (observed facts from one browser row)."""

    id: int
    kind: str  # visit | download
    browser: str
    profile: str
    at_utc: str | None
    local_offset_min: int | None
    at_local: str | None  # at_utc at the examiner-given offset; None when none was given
    url: str
    host: str
    title: str | None
    service_id: str | None
    service_name: str | None
    download_path: str | None
    download_bytes: int | None
    matched_path: str | None  # the case file the download is
    matched_sha256: str | None
    match_reason: str | None  # path | hash | name_size
    database: str  # the history file's location
    source_row: str
    # the derivation link of the downloaded file: the photo it was made from (its locations)
    source_sha256: str | None = None
    source_paths: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TracesResult:
    case_path: Path
    services: ServicesView
    traces: list[TraceView]
    unreadable: list[tuple[str, str]]  # (database path, message) of browser_db_unreadable

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": str(self.case_path),
            "services": {
                "source": self.services.origin,
                "path": self.services.path,
                "sha256": self.services.sha256,
            },
            "time_note": TIME_NOTE,
            "traces": [t.as_dict() for t in self.traces],
            "unreadable_databases": [{"path": p, "message": m} for p, m in self.unreadable],
        }


@dataclass(frozen=True)
class TimelineView:
    code: str
    events: list[TimelineEvent]

    def as_dict(self) -> dict[str, Any]:
        return {"person": self.code, "events": [asdict(e) for e in self.events]}


def _services(path: str | None) -> Any:
    from consentry.analyzers.artefacts.services import ServicesListError, load_services_list

    try:
        return load_services_list(Path(path) if path else None)
    except ServicesListError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None


def services_view(path: str | None = None) -> ServicesView:
    """The services list (``path`` None: the shipped one). MISUSE when it cannot be used."""
    s = _services(path)
    return ServicesView(
        s.origin,
        s.path,
        s.sha256,
        [
            ServiceView(e.id, e.name, list(e.domains), e.category, e.added, e.source, e.note)
            for e in s.entries
        ],
    )


def write_default_services(dest: Path, force: bool = False) -> Path:
    """Write the shipped services list to ``dest`` (to edit and pass with ``--services``)."""
    from consentry.analyzers.artefacts.services import shipped_bytes

    if dest.exists() and not force:
        raise ServiceError(ErrorCode.MISUSE, f"{dest} exists; use --force to replace it")
    if dest.is_dir():
        raise ServiceError(ErrorCode.MISUSE, f"{dest} is a folder; name the file to write")
    try:
        dest.write_bytes(shipped_bytes())
    except OSError as exc:
        raise ServiceError(ErrorCode.MISUSE, f"cannot write {dest}: {exc.strerror}") from None
    return dest


def update_traces(request: TracesRequest) -> TracesResult:
    """Run the traces pass on the case (cheap when nothing changed) and return every trace."""
    from consentry.store.traces_store import TracesStore
    from consentry.traces.trace_pass import find_traces

    services = services_view(request.services_file)  # a bad list: one error before any write
    offset = None if request.local_offset is None else parse_offset(request.local_offset)
    with opened(request.case) as case:
        if request.local_offset is not None:
            TracesStore(case.store.engine).set_local_offset(offset)  # the pass records it
        find_traces(
            case.store,
            request.examiner,
            Path(request.services_file) if request.services_file else None,
        )
        return TracesResult(case.path, services, _views(case), _unreadable(case))


def list_traces(ref: CaseRef, service_only: bool = False) -> TracesResult:
    """The traces stored by the last pass (no pass run); ``services`` describes the list the
    last ``traces_found`` event names."""
    with opened_readonly(ref) as case:
        return TracesResult(
            case.path, _last_services(case), _views(case, service_only), _unreadable(case)
        )


def timelines(ref: CaseRef, person: str | None = None) -> list[TimelineView]:
    """Each person's timeline (``person``: one code). MISUSE for an unknown code."""
    from consentry.traces.timeline import person_timelines

    with opened_readonly(ref) as case:
        if person is not None and case.persons.person(person) is None:
            raise ServiceError(ErrorCode.MISUSE, f"no person {person} in this case")
        by_code = person_timelines(case.store, None if person is None else [person])
    if person is not None:
        return [TimelineView(person, by_code.get(person, []))]
    return [TimelineView(code, events) for code, events in sorted(by_code.items(), key=_code)]


def _code(item: tuple[str, object]) -> tuple[str, int]:
    code = item[0]
    return (code[:1], int(code[1:]) if code[1:].isdigit() else 0)


def _views(case: Case, service_only: bool = False) -> list[TraceView]:
    from consentry.store.traces_store import TracesStore

    traces = TracesStore(case.store.engine).traces(service_only=service_only)
    matched = {t.record.matched_sha256 for t in traces if t.record.matched_sha256}
    sources = {x.derived_sha256: x.source_sha256 for x in case.links.links()
               if x.derived_sha256 in matched}  # fmt: skip
    paths = case.links.locations_of(sources.values())
    return [_view(t, sources, paths) for t in traces]


def _view(t: StoredTrace, sources: dict[str, str], paths: dict[str, list[str]]) -> TraceView:
    r, e = t.record, t.record.event
    source = sources.get(r.matched_sha256 or "")
    return TraceView(
        id=t.id,
        kind=e.kind,
        browser=e.browser,
        profile=e.profile,
        at_utc=e.at_utc,
        local_offset_min=r.local_offset_min,
        at_local=local_time(e.at_utc, r.local_offset_min),
        url=e.url,
        host=r.host,
        title=e.title,
        service_id=r.service_id,
        service_name=r.service_name,
        download_path=e.download_path,
        download_bytes=e.download_bytes,
        matched_path=t.matched_path,
        matched_sha256=r.matched_sha256,
        match_reason=r.match_reason,
        database=t.db_path,
        source_row=e.source_row,
        source_sha256=source,
        source_paths=tuple(paths.get(source, [])) if source else (),
    )


def _unreadable(case: Case) -> list[tuple[str, str]]:
    return [
        (p["path"], p["message"])
        for p in case.store.problems_listing(limit=100_000)
        if p["code"] == "browser_db_unreadable"
    ]


def _last_services(case: Case) -> ServicesView:
    import json

    for event in reversed(case.store.audit_events()):
        if event.action == "traces_found":
            try:
                info = json.loads(event.payload).get("services", {})
            except ValueError:
                break
            return ServicesView(
                str(info.get("source", "")), str(info.get("path", "")),
                str(info.get("sha256", "")), [],
            )  # fmt: skip
    return ServicesView("", "", "", [])


__all__ = [
    "TIME_NOTE",
    "local_time",
    "parse_offset",
    "ServiceView",
    "ServicesView",
    "TimelineView",
    "TraceView",
    "TracesRequest",
    "TracesResult",
    "list_traces",
    "services_view",
    "timelines",
    "update_traces",
    "write_default_services",
]
