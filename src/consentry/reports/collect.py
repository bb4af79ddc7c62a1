"""Everything a report says, gathered once from the case store into typed values.

Every format writer (HTML, PDF, JSON, CSV, VICS, CASE/UCO, hash packs, notices) renders a
``CaseReport`` and reads nothing else, so the formats cannot disagree, and scoping and
redaction are decided here, once:

- ``options.person``: only locations showing that person (match level, or the person's own
  unidentified group), and nothing identifying another person: no other names or codes, no
  counts about other persons, audit events about other persons withheld (their sequence number
  and hash stay, so the chain is still checkable; their action, time and actor do not),
  folder and file names below the source replaced by neutral identifiers (``redact.py``; the
  examiner opts out with ``options.show_paths``).
- ``options.redact``: person names become person codes, also where a folder or file is named
  after a person; other name-like folder names are withheld.

Helpers, one job each: ``redact.py`` (who may be named), ``reverify.py`` (sources re-read and
compared with the scan, per ``options.reverify``), ``visual.py`` (PDQ near-duplicates),
``counts.py`` (every count with what it counts), ``methods.py`` (measured error rates).
"""

from __future__ import annotations

import json
import platform
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consentry import __version__
from consentry.analyzers import registry
from consentry.derivation.direction import STATED_CONFIDENCE, direction_stated
from consentry.media.thumbnails import must_blur
from consentry.persons.findings import PersonsReport, build_report
from consentry.persons.refresh import method_description as persons_method
from consentry.records.disk import DeletedFile
from consentry.records.items import ThumbnailRecord
from consentry.reports import laptop
from consentry.reports.counts import Count, case_counts, scoped_counts
from consentry.reports.methods import method_text, rates_of, title
from consentry.reports.model import (
    AuditInfo,
    BoundReason,
    CaseReport,
    DeletedFileInfo,
    DerivationLink,
    DiskImageReport,
    InferenceInfo,
    ItemFinding,
    MethodInfo,
    PersonInfo,
    PersonRequests,
    PersonTimelineInfo,
    PossibleInfo,
    ProblemInfo,
    ReportError,
    ReportItem,
    RequestTimeline,
    RequestTimelineEntry,
    ScanInfo,
    SourceInfo,
    TraceInfo,
    VideoGroupInfo,
    _plain,
)
from consentry.reports.options import ReportOptions
from consentry.reports.provenance_info import with_provenance
from consentry.reports.redact import Redactor, redact_value
from consentry.reports.reverify import reverify_sources, source_manifests
from consentry.reports.visual import PDQ_MATCH_DISTANCE, PDQ_MIN_QUALITY, visual_groups
from consentry.store import disk_store, video_store
from consentry.store.audit import read_head, report_statement, verify_chain
from consentry.store.case import HEAD_FILE, Case, open_case_readonly
from consentry.store.case_counts import CaseCounts
from consentry.store.links_store import LinkRecord, LinksStore
from consentry.store.persons_store import ENROLLED
from consentry.store.requests_store import RequestsStore
from consentry.store.rows import FindingRow, LocationRow, ScanRow, SourceRow
from consentry.store.traces_store import StoredTrace, TracesStore
from consentry.traces.timeline import person_timelines
from consentry.videos.groups import video_groups

# audit actions whose payload says nothing about any person: kept in person-scoped reports
CASE_LEVEL_ACTIONS = frozenset({"case_created", "scan_started", "scan_finished"})
PERSON_CODE = re.compile(r"\b[EU]\d+\b")
WITHHELD_ACTION = "withheld"  # a person-scoped report's audit event about someone else
# problems listed (the store's listing is capped per query); the counts hold every one
PROBLEMS_LIMIT = 1_000_000


# -- entry point ---------------------------------------------------------------------------------
def collect_case(case_dir: Path, options: ReportOptions, db_url: str | None = None) -> CaseReport:
    """Read the case (read-only) and re-verify its sources; raises ReportError on misuse."""
    case = open_case_readonly(Path(case_dir), db_url)
    try:
        return collect(case, options)
    finally:
        case.close()


def collect(case: Case, options: ReportOptions) -> CaseReport:
    """The report of an open case (read only); raises ReportError on misuse."""
    store = case.store
    ps = case.persons
    persons_report = build_report(ps)
    scope = options.person
    all_persons = ps.persons()
    if scope is not None:
        row = next((p for p in all_persons if p.code == scope), None)
        if row is None:
            raise ReportError(f"no person {scope} in this case (see `consentry persons`)")
        if row.status != "active":
            raise ReportError(f"person {scope} was merged into another person; report on that")
        if not any(s.id == scope for s in persons_report.persons):
            raise ReportError(f"person {scope} has no images in this case")
    enrolled_names = {p.code: p.name for p in all_persons if p.kind == ENROLLED and p.name}

    rows = store.location_rows()
    sources = store.sources()
    roots = [src.path for src in sources.values()]
    redactor = Redactor(
        enrolled_names, scope, options.redact, roots, neutral_paths=not options.show_paths
    )
    findings = store.findings()
    thumbs = store.thumbnails()

    codes_at: dict[str, set[str]] = defaultdict(set)
    possible_at: dict[str, set[str]] = defaultdict(set)
    for s in persons_report.persons:
        for path in s.items:
            codes_at[path].add(s.id)
        for path in s.possible_items:
            possible_at[path].add(s.id)

    all_paths = {r.id: r.path for r in rows}  # for traces and timelines (any location)
    known = {r.path: r.sha256 for r in rows}
    deleted = {d.location_id: d for d in disk_store.deleted_files(store)}
    if scope is not None:
        rows = [r for r in rows if scope in codes_at.get(r.path, ())]
        redactor.file_hashes = {r.path: r.sha256 for r in rows}  # for neutral file names
    visual = visual_groups(rows)
    problem_codes = store.problem_codes()

    items: list[ReportItem] = []
    for r in rows:
        item = _item(r, findings, thumbs, sources, codes_at, possible_at, visual, scope)
        codes = problem_codes.of(r.id, r.sha256)
        if codes:
            item = replace(item, problems=tuple(sorted(codes)))
        if r.id in deleted:
            item = replace(item, deleted=True, recovery=deleted[r.id].recovery)
        items.append(item)
    items = [_redact_item(i, redactor) for i in items]
    items = with_provenance(items, store.finding_payloads("provenance"), redactor)
    items = _with_generic_findings(items, findings)
    items = _with_videos(items, store, findings)

    persons = [
        _person_info(s, options) for s in persons_report.persons if scope is None or s.id == scope
    ]
    persons = [_redact_person(p, redactor) for p in persons]
    bounds = (
        []
        if scope is not None
        else [
            BoundReason(w.bound, int(w.persons), redactor.text(w.text))
            for w in getattr(persons_report.count, "widened", [])
        ]
    )

    disk = store.disk_files()
    manifests = source_manifests(disk)
    # a person-scoped report re-reads only the files holding that person's items
    wanted = None if scope is None else store.outer_disk_files(r.id for r in rows)
    checked = reverify_sources(disk, sources, options.reverify, only=wanted)
    source_infos = [
        SourceInfo(
            path=redactor.path(src.path, folder=src.kind == "folder"),
            kind=src.kind,
            files=src.files,
            reverified=checked[sid].verdict,
            method=options.reverify,
            files_checked=checked[sid].checked,
            changed=checked[sid].changed,
            missing=checked[sid].missing,
            details=tuple(_redact_detail(d, redactor) for d in checked[sid].details),
            manifest_sha256=manifests.get(sid),
        )
        for sid, src in sorted(sources.items())
    ]

    events = store.audit_events()
    store_counts = store.counts(registry.count_rules())
    chain = verify_chain(events, read_head(case.path / HEAD_FILE), case_id=case.case_id)
    audit_infos = [_audit_info(e, redactor, scope) for e in events]
    scans = [_scan_info(s, redactor) for s in store.scans()]
    examiners = sorted(
        {s.examiner for s in scans if s.examiner}
        | {a.actor for a in audit_infos if a.actor}
        | ({options.examiner} if options.examiner else set())
    )
    labels = {sha: f.label for (sha, analyzer), f in findings.items() if analyzer == "explicit"}
    links_status, links = _derivation_links(case.links, {i.sha256 for i in items}, scope, labels)

    if scope is None:
        counts = case_counts(store_counts, persons_report, items, len(links))
        problems = [
            ProblemInfo(
                redactor.path(p["path"]), p["code"], p["severity"], redactor.message(p["message"])
            )
            for p in store.problems_listing(limit=PROBLEMS_LIMIT)
        ]
    else:
        counts = scoped_counts(store_counts, items, len(links))
        in_scope = {r.path for r in rows}
        problems = [
            ProblemInfo(
                redactor.path(p["path"]), p["code"], p["severity"], redactor.message(p["message"])
            )
            for p in store.problems_listing(limit=PROBLEMS_LIMIT)
            if p["path"] in in_scope
        ]

    sections = _laptop(case, rows, all_paths, known, deleted, items, links, redactor, scope)
    items = _with_video_groups(items, sections.video_groups)
    now = datetime.now(UTC)
    requests = _requests(RequestsStore(store.engine), options, redactor, enrolled_names, now)
    return CaseReport(
        report_id=f"CR-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}",
        generated_at=now.isoformat(timespec="seconds"),
        generated_tz=time.strftime("%Z%z"),
        generated_local=now.astimezone().isoformat(timespec="seconds"),
        generated_host=platform.node(),
        tool_version=__version__,
        case_id=case.case_id,
        case_name=redactor.text(case.path.name),
        case_dir=str(case.path),
        scope=scope,
        redacted=options.redact,
        examiners=examiners,
        requested_by=options.requested_by,
        purpose=options.purpose,
        scans=scans,
        sources=source_infos,
        methods=_methods(store_counts, findings, events, links, links_status),
        counts=counts,
        items=items,
        persons=persons,
        links=links,
        links_status=links_status,
        problems=problems,
        audit=audit_infos,
        audit_intact=not chain,
        audit_findings=[f.message for f in chain],
        limitations=_limitations(options, persons_report, links_status, findings)
        + _laptop_limitations(sections)
        + [report_statement(events, not chain)],
        persons_up_to_date=persons_report.up_to_date,
        persons_bounds=bounds,
        incomplete=_incomplete(store_counts, store.last_scan_status()),
        requests=requests,
        disk_images=sections.disk_images,
        deleted_files=sections.deleted_files,
        traces=sections.traces,
        inferences=sections.inferences,
        timelines=sections.timelines,
        video_groups=sections.video_groups,
    )


@dataclass(frozen=True)
class _Laptop:
    disk_images: list[DiskImageReport]
    deleted_files: list[DeletedFileInfo]
    traces: list[TraceInfo]
    inferences: list[InferenceInfo]
    timelines: list[PersonTimelineInfo]
    video_groups: list[VideoGroupInfo]


def _laptop(
    case: Case,
    rows: Sequence[LocationRow],
    all_paths: dict[int, str],
    known: dict[str, str | None],
    deleted: dict[int, DeletedFile],
    items: Sequence[ReportItem],
    links: Sequence[DerivationLink],
    r: Redactor,
    scope: str | None,
) -> _Laptop:
    """Disk images, deleted files, traces of creation and video groups (``laptop.py``); a
    person-scoped report keeps what is joined to the person's files only."""
    store = case.store
    in_ids = {row.id for row in rows}
    shas = {i.sha256 for i in items if i.sha256}
    places: dict[str, str] = {}
    for i in items:
        if i.sha256:
            places.setdefault(i.sha256, i.location)
    source_ids = None if scope is None else {row.source_id for row in rows}
    images = laptop.disk_image_reports(disk_store.disk_images(store), r, source_ids)
    gone = laptop.deleted_file_infos(deleted.values(), r, None if scope is None else in_ids)
    timelines = person_timelines(store)
    stored = TracesStore(store.engine).traces()
    in_timeline = {e.trace_id for e in timelines.get(scope or "", []) if e.trace_id is not None}

    def keep(t: StoredTrace) -> bool:
        if scope is None:
            return True
        sha = t.record.matched_sha256
        return (sha in shas) if sha else (t.id in in_timeline)

    traces = laptop.trace_infos(stored, places, links, r, keep)
    steps = laptop.timeline_infos(timelines, all_paths, r, scope, shas, known)
    groups = laptop.video_group_infos(video_groups(store), places, None if scope is None else shas)
    return _Laptop(images, gone, traces, laptop.inferences(traces, links), steps, groups)


# -- the other parts' readers (issue 16) --------------------------------------------------------
def _video_facts(store: Any) -> dict[str, laptop.VideoFacts]:
    return {
        v.sha256: laptop.VideoFacts(v.sha256, v.duration_s, v.codec, v.frame_count)
        for v in video_store.video_contents(store)
    }


def _laptop_limitations(sections: _Laptop) -> list[str]:
    out = []
    if sections.deleted_files:
        out.append(
            "A deleted file's content is what its clusters or blocks still held when the image "
            "was made: 'recovered' means no other file claims them, not that they were never "
            "overwritten; its times are the file system's and may have changed on deletion."
        )
    if sections.traces or sections.timelines:
        out.append(
            "Traces of creation rest on the browser's own records and on a curated list of "
            "services (which list: the traces_found audit event): a visit shows that a page was "
            "loaded in a profile, not who used the computer or what was done on the site; "
            "the inferences and the inferred timeline steps are conclusions for an examiner "
            "to weigh, with their basis stated."
        )
    return out


def _with_video_groups(
    items: list[ReportItem], groups: Sequence[VideoGroupInfo]
) -> list[ReportItem]:
    number = {sha: g.group for g in groups for sha in g.members}
    return [
        replace(i, video=replace(i.video, group=number[i.sha256]))
        if i.video is not None and i.sha256 in number
        else i
        for i in items
    ]


def _with_videos(
    items: list[ReportItem], store: Any, findings: dict[tuple[str, str], FindingRow]
) -> list[ReportItem]:
    """Each video item's kind, length, codec and frames analysed."""
    facts = _video_facts(store)
    if not facts:
        return items
    wanted = {i.sha256 for i in items if i.sha256 in facts}
    payloads = {
        sha: payload for sha, payload in store.finding_payloads("explicit") if sha in wanted
    }
    return [
        replace(i, video=laptop.video_info(i, facts[i.sha256], payloads.get(i.sha256)))
        if i.sha256 in facts
        else i
        for i in items
    ]


OPEN_REQUEST = ("requested", "acknowledged", "offered")


def _requests(
    rs: RequestsStore,
    options: ReportOptions,
    r: Redactor,
    names: dict[str, str],
    now: datetime,
) -> list[PersonRequests]:
    """The requests and measures per person, each with its timeline; a person-scoped report
    holds only that person's (not the case-wide ones)."""
    if not rs.present():
        return []
    rows = [q for q in rs.requests() if options.person is None or q.person_code == options.person]
    events: dict[int, list[Any]] = defaultdict(list)
    for e in rs.events():
        events[e.request_id].append(e)
    groups: dict[str | None, list[RequestTimeline]] = defaultdict(list)
    for q in rows:
        entries = []
        status, owner = None, None
        for e in events[q.id]:
            what = []
            if e.status != status:
                what.append(e.status)
            if e.owner != owner and status is not None:
                what.append(f"owner: {r.text(e.owner)}" if e.owner else "owner removed")
            status, owner = e.status, e.owner
            entries.append(
                RequestTimelineEntry(
                    at=e.at,
                    what="; ".join(what) or "note",
                    who=e.actor,
                    status=e.status,
                    due_at=e.due_at,
                    note=r.text(e.note) if e.note else None,
                )
            )
        overdue = (
            q.status in OPEN_REQUEST
            and q.due_at is not None
            and datetime.fromisoformat(q.due_at) < now
        )
        groups[q.person_code].append(
            RequestTimeline(
                code=q.code,
                kind=q.kind,
                asked_by=r.text(q.asked_by),
                asked_at=q.asked_at,
                owner=r.text(q.owner) if q.owner else None,
                status=q.status,
                due_at=q.due_at,
                overdue=overdue,
                detail=r.text(q.detail) if q.detail else None,
                decline_reason=r.text(q.decline_reason) if q.decline_reason else None,
                events=tuple(entries),
            )
        )
    ordered = sorted(groups, key=lambda c: (c is None, _code_key(c) if c else ("", 0)))
    return [
        PersonRequests(
            person=code,
            name=None if options.redact or code is None else names.get(code),
            requests=tuple(groups[code]),
        )
        for code in ordered
    ]


def _incomplete(counts: CaseCounts, last_status: str | None) -> str | None:
    """What a reader must know first: the case was not fully scanned (said on page one)."""
    pending = counts.pending
    if not pending and last_status in (None, "completed"):
        return None
    said = {
        "failed": "the newest scan stopped on an error",
        "interrupted": "the newest scan was interrupted",
        "running": "a scan is running or was killed",
    }.get(last_status or "", "")
    parts = [said] if said else []
    if pending:
        parts.append(f"{pending:,} files found but not yet analysed")
    return "; ".join(parts) + (
        ". Counts below cover only what was analysed; re-run the scan to complete the case."
    )


# -- scans ---------------------------------------------------------------------------------------
def _scan_info(r: ScanRow, redactor: Redactor) -> ScanInfo:
    return ScanInfo(
        scan_id=r.id,
        started_at=r.started_at,
        finished_at=r.finished_at,
        status=r.status,
        examiner=r.examiner,
        host=r.host,
        timezone=r.timezone,
        tool_version=r.tool_version,
        sources=tuple(redactor.path(s) for s in r.sources),
    )


# -- items ----------------------------------------------------------------------------------------
def _item(
    r: LocationRow,
    findings: dict[tuple[str, str], FindingRow],
    thumbs: dict[str, ThumbnailRecord],
    sources: dict[int, SourceRow],
    codes_at: dict[str, set[str]],
    possible_at: dict[str, set[str]],
    visual: dict[str, int],
    scope: str | None,
) -> ReportItem:
    sha = r.sha256
    explicit = findings.get((sha, "explicit")) if sha else None
    provenance = findings.get((sha, "provenance")) if sha else None
    label = explicit.label if explicit else None
    thumb = thumbs.get(sha) if sha else None
    thumb_path: str | None = None
    blurred = True
    if thumb is not None:
        blurred = thumb.blurred
        # The blur rule, checked again at the last step: a sharp thumbnail is handed on only
        # when the image's current label is `none` and the thumbnail was rendered for it.
        if blurred or (not must_blur(label) and thumb.label == label):
            thumb_path = thumb.path
    codes = codes_at.get(r.path, set())
    possible = possible_at.get(r.path, set()) - codes
    if scope is not None:
        codes = codes & {scope}
        possible = possible & {scope}
    return ReportItem(
        location=r.path,
        rel_path=r.rel_path,
        source=sources[r.source_id].path if r.source_id in sources else "",
        size=r.size,
        mtime=_iso_ns(r.mtime_ns),
        sha256=sha,
        md5=r.md5,
        sha1=r.sha1,
        pdq=r.pdq,
        pdq_quality=r.pdq_quality,
        mime=r.mime,
        width=r.width,
        height=r.height,
        explicit_label=label,
        explicit_score=round(float(explicit.score), 4)
        if explicit and explicit.score is not None
        else None,
        provenance_verdict=provenance.label if provenance else None,
        person_codes=tuple(sorted(codes, key=_code_key)),
        thumbnail=thumb_path,
        thumbnail_blurred=blurred if thumb_path else True,
        is_image=r.is_image,
        possible_person_codes=tuple(sorted(possible, key=_code_key)),
        visual_group=visual.get(sha) if sha else None,
        in_archive=r.in_archive,
    )


def _iso_ns(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


def _code_key(code: str) -> tuple[str, int]:
    return (code[:1], int(code[1:]) if code[1:].isdigit() else 0)


# -- persons ---------------------------------------------------------------------------------------
def _person_info(s: Any, options: ReportOptions) -> PersonInfo:
    sim = s.similarity or {}
    return PersonInfo(
        code=s.id,
        kind=s.kind,
        name=None if options.redact else s.name,
        images=s.images,
        unique_images=s.unique_images,
        explicit_images=s.explicit_images,
        folders=tuple((f["folder"], int(f["images"])) for f in s.folders),
        similarity_min=sim.get("min"),
        similarity_max=sim.get("max"),
        weak=s.weak,
        evidence=s.evidence,
        consent=s.consent,
        possible_images=s.possible_images,
        likely_enrolled=s.likely_enrolled if options.person is None else None,
        # a person-scoped report holds only the person's own images: possible ones may show
        # someone else, and review lines name other persons and their folders
        possible=()
        if options.person is not None
        else tuple(
            PossibleInfo(m.path, m.sha256, round(float(m.similarity), 3), m.why)
            for m in getattr(s, "possible", [])
        ),
        review=()
        if options.person is not None
        else tuple(_review_line(f) for f in getattr(s, "review", [])),
    )


def _review_line(flag: Any) -> str:
    """A review flag's message, its folders marked for redaction (``_redact_person``)."""
    message = str(flag.message)
    for folder in sorted(getattr(flag, "folders", ()), key=len, reverse=True):
        message = message.replace(folder, f"\x00{folder}\x00")
    return message


# -- redaction (rules in redact.py) ---------------------------------------------------------
def _redact_item(item: ReportItem, r: Redactor) -> ReportItem:
    if not r.active:
        return item
    return replace(
        item,
        location=r.path(item.location, sha256=item.sha256),
        rel_path=r.path(item.rel_path, sha256=item.sha256),
        source=r.path(item.source),
    )


_DETAIL = re.compile(r"(.*?)(: (?:missing|cannot be read|size/mtime changed).*)", re.DOTALL)


def _redact_detail(detail: str, r: Redactor) -> str:
    """A re-verification line, "PATH: what changed": the path redacted, the rest kept."""
    m = _DETAIL.fullmatch(detail)
    return r.path(m.group(1)) + m.group(2) if m else r.path(detail)


def _redact_person(p: PersonInfo, r: Redactor) -> PersonInfo:
    if not r.active:
        return replace(p, review=tuple(_redact_review(line, r) for line in p.review))
    return replace(
        p,
        folders=tuple((r.path(f, folder=True), n) for f, n in p.folders),
        evidence=r.text(p.evidence),
        possible=tuple(
            replace(m, location=r.path(m.location, sha256=m.sha256)) for m in p.possible
        ),
        review=tuple(_redact_review(line, r) for line in p.review),
    )


_MARKED = re.compile(r"\x00(.*?)\x00")


def _redact_review(line: str, r: Redactor) -> str:
    """A review line: each folder (marked by ``_review_line``) redacted as a path, the rest as
    text; without redaction only the marks go."""
    if not r.active:
        return _MARKED.sub(lambda m: m.group(1), line)
    parts = _MARKED.split(line)  # text, folder, text, folder, ...
    return "".join(r.path(x, folder=True) if i % 2 else r.text(x) for i, x in enumerate(parts))


def _audit_info(e: Any, r: Redactor, scope: str | None) -> AuditInfo:
    payload = json.loads(e.payload)
    withheld = False
    if scope is not None and e.action not in CASE_LEVEL_ACTIONS:
        codes = set(PERSON_CODE.findall(e.payload))
        # kept only when the event is about this person and no one else
        if codes != {scope}:
            withheld = True
    if withheld:  # what happened, when and by whom would say something too: sequence and hash
        return AuditInfo(e.seq, "", WITHHELD_ACTION, None, {}, e.hash, e.prev_hash, True)
    payload = redact_value(payload, r)
    return AuditInfo(
        seq=e.seq,
        ts=e.ts,
        action=e.action,
        actor=e.actor,
        payload=payload,
        hash=e.hash,
        prev_hash=e.prev_hash,
        withheld=withheld,
    )


# -- methods ---------------------------------------------------------------------------------------
def _methods(
    counts: CaseCounts,
    findings: dict[tuple[str, str], FindingRow],
    events: Sequence[Any],
    links: Sequence[DerivationLink],
    links_status: str,
) -> list[MethodInfo]:
    # thresholds as the newest scan recorded them in its audit event (describe_plan)
    described: dict[str, Any] = {}
    identity: dict[str, Any] = {}
    linking: dict[str, Any] = {}  # the derivation pass's method, as its newest run recorded it
    for e in events:
        payload = json.loads(e.payload)
        if e.action == "scan_started":
            described.update(payload.get("analyzers") or {})
        elif e.action == "identities_refreshed" and isinstance(payload.get("method"), dict):
            identity = payload["method"]
        elif e.action == "derivations_linked" and isinstance(payload.get("method"), dict):
            linking = payload["method"]
    by_analyzer: dict[str, dict[str, Any]] = {}
    for (_sha, analyzer), f in findings.items():
        entry = by_analyzer.setdefault(
            analyzer, {"versions": set(), "models": set(), "contents": 0}
        )
        entry["versions"].add(f.analyzer_version)
        for m in (f.model_sha256 or "").split(","):
            if m:
                entry["models"].add(m)
        entry["contents"] += 1
    out = [
        _method("crypto_hashes", "1", (), {}, counts.unique_contents),
        _method(
            "pdq",
            "1",
            (),
            {"match_distance": PDQ_MATCH_DISTANCE, "min_quality": PDQ_MIN_QUALITY},
            counts.unique_images,
        ),
    ]
    for analyzer in sorted(by_analyzer):
        entry = by_analyzer[analyzer]
        info = described.get(analyzer, {})
        thresholds = _method_thresholds(analyzer, info) if isinstance(info, dict) else {}
        out.append(
            _method(
                analyzer,
                ",".join(sorted(entry["versions"])),
                tuple(sorted(entry["models"])),
                thresholds,
                entry["contents"],
            )
        )
    faces = counts.faces.faces
    if faces:
        method = identity or persons_method()
        out.append(
            _method(
                "persons",
                str(method.get("version", "")),
                (),
                {k: v for k, v in method.items() if k != "version"},
                counts.faces.unique_images_with_faces,
            )
        )
    if not links_status.startswith(("not run", "unavailable")):
        versions = sorted({str(link.details.get("version", "")) for link in links} - {""})
        settings = {k: v for k, v in linking.items() if k != "version"}
        # below it a link reads "copies of each other, direction unknown"
        settings.setdefault("direction_stated_from_confidence", STATED_CONFIDENCE)
        out.append(_method("derivation", ",".join(versions), (), settings, len(links)))
    return out


def _method_thresholds(analyzer: str, described: dict[str, Any]) -> dict[str, Any]:
    try:
        return registry.get(analyzer).method_thresholds(described)
    except registry.UnknownAnalyzer:  # a plug-in no longer installed: what it recorded
        return dict(described.get("thresholds") or {})


def _with_generic_findings(
    items: list[ReportItem], findings: dict[tuple[str, str], FindingRow]
) -> list[ReportItem]:
    """Each item's findings of the analyzers without report fields of their own."""
    of: dict[str, list[ItemFinding]] = defaultdict(list)
    for (sha, analyzer), f in sorted(findings.items()):
        if not registry.dedicated_report_fields(analyzer):
            score = None if f.score is None else round(float(f.score), 4)
            of[sha].append(ItemFinding(analyzer, f.label, score))
    if not of:
        return items
    return [replace(i, findings=tuple(of[i.sha256])) if i.sha256 in of else i for i in items]


def _method(
    analyzer: str,
    version: str,
    models: tuple[str, ...],
    thresholds: dict[str, Any],
    contents: int,
) -> MethodInfo:
    text = method_text(analyzer)
    return MethodInfo(
        analyzer,
        version,
        models,
        thresholds,
        int(contents),
        text.description,
        text.rates,
        title=title(analyzer),
        measured_rates=rates_of(analyzer),
    )


# -- derivation links (another module; optional) --------------------------------------------------
def _derivation_links(
    links_store: LinksStore,
    in_scope: set[str | None],
    scope: str | None,
    labels: dict[str, str | None],
) -> tuple[str, list[DerivationLink]]:
    """Links of the derivation pass (``case.links``), when it has run on this case. In a
    person-scoped report a link's source photo is named only when it is one of the person's
    own images."""
    try:
        if links_store.state() is None:
            return "not run on this case (run `consentry links`)", []
        raw = links_store.links()
    except Exception as exc:  # noqa: BLE001 - a report must still be written; say why
        return f"unavailable: {exc.__class__.__name__}: {exc}", []
    links: list[DerivationLink] = []
    for link in raw:
        data = {k: _json_or_text(v) for k, v in _plain(link).items()}
        derived = str(data.get("derived_sha256") or "")
        source = data.get("source_sha256")
        if scope is not None and derived not in in_scope:
            continue
        if scope is not None and source not in in_scope:
            # the photo it was made from is not this person's: withhold it (renders are named
            # after both hashes)
            source = None
            data = {k: v for k, v in data.items() if not k.startswith(("source", "render"))}
        evidence = data.get("evidence")
        if isinstance(evidence, dict) and evidence.get("other_possible_sources"):
            others = [str(x) for x in evidence["other_possible_sources"]]
            if scope is not None:  # another person's photo is not named, not even by hash
                others = [x for x in others if x in in_scope]
            data["evidence"] = {**evidence, "other_possible_sources": others}
        mask = _safe_mask_render(link, labels.get(derived)) if source is not None else None
        stated = direction_stated(float(link.confidence))
        links.append(
            DerivationLink(
                derived,
                source,
                data,
                mask,
                direction="stated" if stated else "unknown",
                direction_confidence=round(float(link.confidence), 4) if stated else None,
            )
        )
    return "ok" if links else "run: no image in this report is linked to another picture", links


def _safe_mask_render(link: LinkRecord, label_now: str | None) -> str | None:
    """``render_dir/mask.png`` when the blur rule allows it: the derived picture in it was
    blurred, or drawn sharp for a ``none`` label that is still the image's label."""
    render_dir = link.render_dir
    rendered = (link.render_labels or "").split(",")
    if not render_dir or len(rendered) != 2:
        return None
    derived_label = rendered[1]
    if must_blur(derived_label) or (derived_label == "none" and label_now == "none"):
        return f"{render_dir}/mask.png"
    return None


def _json_or_text(value: Any) -> Any:
    """Stores keep structured evidence as JSON text: show it as structure."""
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# -- limitations ------------------------------------------------------------------------------
def _limitations(
    options: ReportOptions,
    persons: PersonsReport,
    links_status: str,
    findings: dict[tuple[str, str], FindingRow],
) -> list[str]:
    out = [
        "Recall of the explicit-content label was not measured (no explicit material may be "
        "used to test this software): an image labelled 'none' may still be explicit.",
        "A face match is evidence for an examiner to review, not an identification: on "
        "AI-generated people, pairs of different people pass the match threshold far more "
        "often than on real faces (the measured rates are in the methods section).",
        "The person count is a range (lower bound to upper bound): faces too small, blurred or "
        "in profile join no person and may show further persons.",
        "Absence of a provenance signal (C2PA, watermark, generator metadata) does not mean "
        "an image is authentic: such signals are easily removed.",
        "Thumbnails of images not labelled 'none' are pixelated and blurred; this report never "
        "shows explicit content sharply and was rendered without re-reading the evidence.",
    ]
    if not any(a == "provenance" for _s, a in findings):
        out.append("The provenance analyzer was not run on this case (it is opt-in).")
    if not links_status.startswith("ok"):
        said = links_status.replace("run: ", "ran: ", 1)
        out.append(f"Derivation linking (which image was made from which) {said}.")
    if not persons.up_to_date:
        out.append(
            "Person matches are older than the newest scan or enrollment: run "
            "`consentry person refresh`."
        )
    if options.reverify == "stat":
        out.append(
            "Sources were re-verified by size and modification time; only changed "
            "files were re-hashed."
        )
    elif options.reverify == "none":
        out.append("Sources were NOT re-verified for this report.")
    if options.person is not None:
        out.append(
            f"This report is limited to person {options.person}: counts and lists "
            "cover only that person's images; other persons are not identified."
            + (
                ""
                if options.show_paths
                else " Evidence folder and file names (which may name other people) are "
                "replaced by neutral identifiers; a file is named by its SHA-256."
            )
        )
    if options.redact:
        out.append(
            "Names are replaced by person codes, also in folder and file names; "
            "other name-like folder names are withheld."
        )
    return out


__all__ = [
    "AuditInfo",
    "CaseReport",
    "Count",
    "DerivationLink",
    "MethodInfo",
    "PersonInfo",
    "ProblemInfo",
    "Redactor",
    "ReportError",
    "ReportItem",
    "ScanInfo",
    "SourceInfo",
    "collect",
    "collect_case",
]
