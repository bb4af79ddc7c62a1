"""The report's value types: what every report format reads (``CaseReport`` and its parts), with
no behaviour beyond small derived views. ``collect`` fills them from the store; ``counts`` and
``provenance_info`` build their parts; the writers (one module per format) only read them. They
live apart from the collection so that the modules which build parts of a report need not import
the module that assembles it (no import cycles in ``consentry.reports``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from consentry.analyzers.contract import ErrorRate


@dataclass(frozen=True)
class Count:
    value: int
    what: str  # what exactly is counted, in words
    # "observed": exact measurement (files, bytes, hashes, decoding); "inferred": a model's or a
    # similarity rule's judgement (labels, faces, persons, near-duplicates, derivation)
    basis: str = "observed"


def Inferred(value: int, what: str) -> Count:  # noqa: N802 - reads like the class
    return Count(value, what, basis="inferred")


@dataclass(frozen=True)
class ProvenanceSignalInfo:
    kind: str  # SignalKind value: c2pa_ai_claim, watermark, generator_metadata, ...
    name: str  # a few words: "ComfyUI workflow metadata"
    strength: str  # confirms | indicates | context
    detail: str
    source: str  # where in the file: c2pa, watermark:sdxl, png:prompt, ...


@dataclass(frozen=True)
class ProvenanceCheckInfo:
    name: str  # c2pa | metadata | full_resolution | watermark | stealth | detector
    status: str  # checked | not_checked | error
    detail: str


@dataclass(frozen=True)
class C2paActionInfo:
    action: str
    digital_source_type: str | None
    software_agent: str | None
    active: bool  # in the active manifest, not an ingredient's


@dataclass(frozen=True)
class C2paInfo:
    present: bool  # a manifest store (or a remote reference to one) is in the file
    state: str | None  # trusted | valid_untrusted | invalid; None: not validated (remote)
    sdk_state: str | None  # c2pa-rs's own: Trusted | Valid | Invalid
    codes: tuple[str, ...]  # the failure codes the SDK stated
    identity_codes: tuple[str, ...]  # the CAWG identity ones among them (who signed)
    claim_signer_trusted: bool
    trust_anchors_configured: bool
    claim_generator: str | None
    digital_source_types: tuple[str, ...]
    actions: tuple[C2paActionInfo, ...]
    signer: str | None
    signed_at: str | None
    title: str | None
    remote_url: str | None
    manifests: int


@dataclass(frozen=True)
class ProvenanceInfo:
    verdict: str  # confirmed | indicated | no_signal
    signals: tuple[ProvenanceSignalInfo, ...]
    checks: tuple[ProvenanceCheckInfo, ...]
    c2pa: C2paInfo | None  # None: C2PA not checked (see checks)
    error: str | None = None

    @property
    def counted(self) -> tuple[ProvenanceSignalInfo, ...]:
        """The signals the verdict rests on: confirming ones for confirmed, indicating ones for
        indicated; none for no_signal."""
        want = {"confirmed": "confirms", "indicated": "indicates"}.get(self.verdict)
        return tuple(s for s in self.signals if s.strength == want)

    @property
    def summary(self) -> str:
        """The verdict with the names of the signals behind it: "indicated: ComfyUI workflow
        metadata"."""
        names = list(dict.fromkeys(s.name for s in self.counted))
        return f"{self.verdict}: {'; '.join(names)}" if names else self.verdict


class ReportError(ValueError):
    """The report cannot be made as asked (unknown person, ...): one line for the examiner."""


@dataclass(frozen=True)
class ScanInfo:
    scan_id: int
    started_at: str
    finished_at: str | None
    status: str
    examiner: str | None
    host: str
    timezone: str
    tool_version: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class SourceInfo:
    path: str
    kind: str  # folder | file
    files: int  # locations found in it (archive members included)
    reverified: bool | None  # True all unchanged, False changes found, None not checked
    method: str  # sha256 | stat | none
    files_checked: int
    changed: int
    missing: int
    details: tuple[str, ...] = ()  # one line per changed/missing file
    # SHA-256 of the source's sha256sum-style file list as scanned (reverify.source_manifests)
    manifest_sha256: str | None = None


@dataclass(frozen=True)
class MeasuredRate:
    """One error rate the methods section quotes, with where it was measured (a line of
    ``reports/measured_rates.json``)."""

    id: str
    method: str  # the report's method name: analyzer or case-level pass
    measure: str  # what was measured, in words
    value: str  # the figure as published in docs/benchmarks.md
    measured_on: str  # the data: corpus and split
    seed: str | None  # the benchmark seed or split seed; None: no seed (a definition, a test)
    held_out: bool | None  # True: no rule or threshold was tuned on it; None: not applicable
    date: str | None  # of the run (ISO date)
    command: str | None  # the benchmark command that produced it
    section: str | None  # the section of docs/benchmarks.md


@dataclass(frozen=True)
class MethodInfo:
    analyzer: str
    version: str
    model_sha256: tuple[str, ...]
    thresholds: dict[str, Any]
    contents: int  # distinct contents (SHA-256) this method produced a result for
    description: str
    error_rates: tuple[ErrorRate, ...]
    title: str = ""  # the method's name in words ("File hashes"); a plug-in's own name
    # the rates above with their runs (measured_rates.json); empty for a plug-in's own rates
    measured_rates: tuple[MeasuredRate, ...] = ()


@dataclass(frozen=True)
class ReportItem:
    """One location (a file on disk or an archive member): duplicates appear once per place."""

    location: str  # locations.path as the scan recorded it (redacted per the options)
    rel_path: str
    source: str
    size: int | None
    mtime: str | None  # ISO 8601 UTC
    sha256: str | None
    md5: str | None
    sha1: str | None
    pdq: str | None
    pdq_quality: int | None
    mime: str | None
    width: int | None
    height: int | None
    explicit_label: str | None  # None: not analysed
    explicit_score: float | None
    provenance_verdict: str | None  # None: not analysed
    person_codes: tuple[str, ...]
    thumbnail: str | None  # relative to the case folder; None if absent or not safe to show
    thumbnail_blurred: bool
    is_image: bool = False
    possible_person_codes: tuple[str, ...] = ()
    visual_group: int | None = None  # items sharing a number are within PDQ distance 31
    in_archive: bool = False
    problems: tuple[str, ...] = ()  # problem codes of this location and its content
    # the evidence behind provenance_verdict: signals, checks, C2PA facts (provenance_info.py)
    provenance: ProvenanceInfo | None = None
    # findings of the analyzers without fields of their own in schema 1 (plug-ins), by name
    findings: tuple[ItemFinding, ...] = field(default=(), metadata={"omit_empty": True})
    # a file inside a disk image whose entry is deleted (see ``CaseReport.deleted_files``)
    deleted: bool = field(default=False, metadata={"omit_empty": True})
    recovery: str | None = field(default=None, metadata={"omit_empty": True})
    # a video: its kind, length, codec and the frames analysed (contact sheet = thumbnail)
    video: VideoInfo | None = field(default=None, metadata={"omit_empty": True})


@dataclass(frozen=True)
class VideoFrameInfo:
    """One frame of a video the analyzers looked at: its time and the explicit-content label."""

    at_s: float
    label: str | None


@dataclass(frozen=True)
class VideoInfo:
    """What the scan measured of a video (the item's width/height are the video stream's)."""

    container: str | None  # the mime type: video/mp4, video/webm ...
    duration_s: float | None
    codec: str | None
    frame_count: int | None  # frames in the stream as the container states
    frames_analysed: int  # keyframes the analyzers labelled
    worst_label: str | None  # the worst frame's label (the item's explicit label)
    frames: tuple[VideoFrameInfo, ...] = ()
    group: int | None = None  # its video duplicate group (``CaseReport.video_groups``)


@dataclass(frozen=True)
class ItemFinding:
    """One analyzer's label and score for an item's content (``Analyzer.dedicated_report_fields``
    false: every analyzer but the built-ins)."""

    analyzer: str
    label: str | None
    score: float | None


@dataclass(frozen=True)
class PossibleInfo:
    """A face at the ``possible`` level for an enrolled person: listed for review, never counted
    among the person's images."""

    location: str  # the image location (redacted per the options)
    sha256: str
    similarity: float  # to the person's reference photos (best over their templates)
    why: str  # why only possible: below the match level, face not usable, its group disagrees


@dataclass(frozen=True)
class BoundReason:
    """One reason why a bound of the person count differs from the estimate."""

    bound: str  # lower: counted in the estimate but not sure; upper: could be further persons
    persons: int
    text: str


@dataclass(frozen=True)
class PersonInfo:
    code: str
    kind: str  # enrolled | unidentified
    name: str | None  # None when redacted, scoped out or unidentified
    images: int  # image locations showing the person (duplicates once per location)
    unique_images: int
    explicit_images: int
    folders: tuple[tuple[str, int], ...]  # (folder, images)
    similarity_min: float | None
    similarity_max: float | None
    weak: bool
    evidence: str
    consent: str | None = None  # enrolled: valid | expired | missing
    possible_images: int = 0
    likely_enrolled: str | None = None
    # enrolled: the possible-level faces, most similar first (whole-case reports only)
    possible: tuple[PossibleInfo, ...] = ()
    # why this person widens the count's bounds, one line each, for the examiner to review
    review: tuple[str, ...] = ()


@dataclass(frozen=True)
class DerivationLink:
    derived_sha256: str
    source_sha256: str | None
    details: dict[str, Any]
    # the pass's picture of the derived image with the changed region outlined (relative to
    # the case folder); None when absent or not safe to show under the blur rule
    mask_render: str | None = None
    # "stated": the evidence says which picture was made from which; "unknown": copies of each
    # other, direction unknown (derived / source then only name the two pictures)
    direction: str = "unknown"
    # the confidence of the direction (which one is the original), not of the link; None when
    # the direction is unknown
    direction_confidence: float | None = None


@dataclass(frozen=True)
class VolumeReport:
    name: str  # p1, p2 ... (p0: the image holds a bare file system)
    start_bytes: int
    length_bytes: int
    description: str
    filesystem: str | None  # None: no file system could be opened
    problem: str | None


@dataclass(frozen=True)
class DiskImageReport:
    """A disk image named as a source: its format and segments, volumes and the check of the
    hashes stored in it (E01) against the ones computed over the media when it was scanned."""

    path: str
    format: str  # raw | ewf
    segments: tuple[str, ...]
    media_size: int | None
    volumes: tuple[VolumeReport, ...]
    stored_md5: str | None
    stored_sha1: str | None
    computed_md5: str | None
    computed_sha1: str | None
    # verified | mismatch | no_stored_hash | not_verified | error
    verification: str
    verified_at: str | None
    message: str | None


@dataclass(frozen=True)
class DeletedFileInfo:
    """A deleted entry of a disk image's file system, with what is known of it (times in UTC,
    as the file system recorded them; ctime: metadata change, crtime: creation)."""

    location: str
    size: int | None
    recovery: str  # recovered | partial | unrecoverable
    mtime: str | None
    atime: str | None
    ctime: str | None
    crtime: str | None
    sha256: str | None  # of the recovered content; None when unrecoverable


@dataclass(frozen=True)
class TraceInfo:
    """An observed fact: one row of a browser's history or downloads, as read from the profile
    (a visit to a listed service, or a download whose file is in the case)."""

    trace_id: int
    browser: str
    profile: str  # the profile folder (location)
    database: str  # the history database's location
    kind: str  # visit | download
    url: str
    host: str
    title: str | None
    service_id: str | None  # in the services list; None: not a listed service
    service_name: str | None
    at_utc: str | None
    at_local: str | None  # the same instant on the profile's clock, when the profile says
    download_path: str | None  # as the browser recorded it
    download_bytes: int | None
    in_case: bool  # the downloaded file was found in the case
    file: str | None  # where (location); None when not found
    file_sha256: str | None
    match_reason: str | None  # path | hash | name_size: how the file was found
    # the photo the derivation pass linked the downloaded file to (as made from it)
    derived_from: str | None
    derived_from_sha256: str | None
    source_row: str


@dataclass(frozen=True)
class InferenceInfo:
    """A conclusion drawn from observed facts and the case's links: stated with its basis, for
    an examiner to weigh; never an observation itself."""

    statement: str
    basis: str
    trace_ids: tuple[int, ...] = ()
    sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class TimelineStepInfo:
    at_utc: str | None
    step: str  # source_saved | service_visited | fake_downloaded | moved_to_person_folder ...
    observed: bool  # False: inferred
    what: str
    basis: str
    location: str | None
    sha256: str | None
    trace_id: int | None


@dataclass(frozen=True)
class PersonTimelineInfo:
    person: str
    steps: tuple[TimelineStepInfo, ...]


@dataclass(frozen=True)
class VideoGroupInfo:
    """Videos that are the same footage: ``exact`` (the same vPDQ features) or ``near`` (cut,
    re-encoded, resized; vpdq's match rule). Matched shares are of each video's features."""

    group: int
    kind: str  # exact | near
    members: tuple[str, ...]  # SHA-256 of each video
    locations: tuple[str, ...]  # where each was found (first location of each member)
    matches: tuple[VideoMatchInfo, ...] = ()


@dataclass(frozen=True)
class VideoMatchInfo:
    sha_a: str
    sha_b: str
    a_matched_pct: float  # of a's vPDQ features, the share with a match in b
    b_matched_pct: float


@dataclass(frozen=True)
class ProblemInfo:
    location: str
    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class AuditInfo:
    seq: int
    ts: str
    action: str
    actor: str | None
    payload: dict[str, Any]  # {} when withheld
    hash: str
    prev_hash: str
    withheld: bool = False


@dataclass(frozen=True)
class RequestTimelineEntry:
    """One step in a request's life: when, what happened, who did it, the status after it and
    the due date of the next step then."""

    at: str  # ISO 8601 UTC
    what: str  # "requested", "acknowledged", "owner: Registry", "note", ...
    who: str
    status: str
    due_at: str | None
    note: str | None


@dataclass(frozen=True)
class RequestTimeline:
    """A request or measure (R0001, ...) and every change to it, oldest first."""

    code: str
    kind: str
    asked_by: str
    asked_at: str
    owner: str | None
    status: str  # requested | acknowledged | offered | implemented | declined
    due_at: str | None  # of the next step (None once implemented or declined)
    overdue: bool  # open and due before the report was written
    detail: str | None
    decline_reason: str | None
    events: tuple[RequestTimelineEntry, ...]


@dataclass(frozen=True)
class PersonRequests:
    """The requests and measures for one person (``person`` None: for the whole case)."""

    person: str | None
    name: str | None  # None when redacted, unidentified or not a person
    requests: tuple[RequestTimeline, ...]


@dataclass
class CaseReport:
    report_id: str
    generated_at: str  # ISO 8601 UTC
    generated_tz: str  # the writing machine's time zone, e.g. "CET+0100"
    generated_local: str  # the same instant on the local clock, with offset
    generated_host: str
    tool_version: str
    case_id: str
    case_name: str
    case_dir: str  # absolute; writers read thumbnails (already blurred) from here
    scope: str | None  # person code, or None for the whole case
    redacted: bool
    examiners: list[str]
    requested_by: str | None
    purpose: str | None
    scans: list[ScanInfo]
    sources: list[SourceInfo]
    methods: list[MethodInfo]
    counts: dict[str, Count]
    items: list[ReportItem]
    persons: list[PersonInfo]
    links: list[DerivationLink]
    links_status: str  # "not run" | "ok" | "unavailable: ..."
    problems: list[ProblemInfo]
    audit: list[AuditInfo]
    audit_intact: bool
    audit_findings: list[str]
    limitations: list[str] = field(default_factory=list)
    persons_up_to_date: bool = True
    # why the person count's bounds differ from its estimate (whole-case reports only)
    persons_bounds: list[BoundReason] = field(default_factory=list)
    incomplete: str | None = None  # why the case is not complete; None when it is
    # the timeline of requests and measures per person (a person-scoped report: that person's)
    requests: list[PersonRequests] = field(default_factory=list, metadata={"omit_empty": True})
    # issue 16: disk images, deleted files, traces of creation, videos (absent when none)
    disk_images: list[DiskImageReport] = field(default_factory=list, metadata={"omit_empty": True})
    deleted_files: list[DeletedFileInfo] = field(
        default_factory=list, metadata={"omit_empty": True}
    )
    traces: list[TraceInfo] = field(default_factory=list, metadata={"omit_empty": True})
    inferences: list[InferenceInfo] = field(default_factory=list, metadata={"omit_empty": True})
    timelines: list[PersonTimelineInfo] = field(default_factory=list, metadata={"omit_empty": True})
    video_groups: list[VideoGroupInfo] = field(default_factory=list, metadata={"omit_empty": True})

    def as_dict(self) -> dict[str, Any]:
        return _plain(self)


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        # a field marked omit_empty appears only when it holds something (ReportItem.findings:
        # a case without plug-in analyzers reads as it always has)
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if not (f.metadata.get("omit_empty") and not getattr(value, f.name))
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
