"""The report's sections about a seized laptop (issue 16), gathered from the store's typed rows:
disk images and the check of their hashes, deleted files, traces of creation (browser history
and downloads: observed facts kept apart from the inferences drawn from them, and a timeline
per person), and videos (what was measured, duplicate groups).

Scoping follows ``collect``: a person-scoped report keeps only what is joined to that person's
files (a download whose file is one of them, a timeline step on one of them or in that person's
timeline without naming another file), and every path, URL, title and download path goes
through the same ``Redactor`` as the rest of the report.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from consentry.records.disk import DeletedFile, DiskImageInfo
from consentry.records.traces import TimelineEvent
from consentry.records.video import VideoGroup
from consentry.reports.model import (
    DeletedFileInfo,
    DerivationLink,
    DiskImageReport,
    InferenceInfo,
    PersonTimelineInfo,
    ReportItem,
    TimelineStepInfo,
    TraceInfo,
    VideoFrameInfo,
    VideoGroupInfo,
    VideoInfo,
    VideoMatchInfo,
    VolumeReport,
)
from consentry.reports.redact import Redactor
from consentry.store.traces_store import StoredTrace

MATCH_WORDS = {
    "path": "the download path the browser recorded names this file",
    "hash": "the browser recorded the downloaded file's hash, and this file has it",
    "name_size": "this file has the name and the size the browser recorded for the download",
}


def iso_ns(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds")


# -- disk images ---------------------------------------------------------------------------------
def disk_image_reports(
    infos: Iterable[DiskImageInfo], r: Redactor, source_ids: set[int] | None = None
) -> list[DiskImageReport]:
    """Each disk image (``source_ids``: only those sources, for a person-scoped report)."""
    return [
        DiskImageReport(
            path=r.path(d.path),
            format=d.format,
            segments=tuple(r.path(s) for s in d.segments),
            media_size=d.media_size,
            volumes=tuple(
                VolumeReport(
                    v.name,
                    int(v.start_bytes),
                    int(v.length_bytes),
                    v.description,
                    v.filesystem,
                    r.message(v.problem) if v.problem else None,
                )
                for v in d.volumes
            ),
            stored_md5=d.stored_md5,
            stored_sha1=d.stored_sha1,
            computed_md5=d.computed_md5,
            computed_sha1=d.computed_sha1,
            verification=d.verification,
            verified_at=d.verified_at,
            message=r.message(d.message) if d.message else None,
        )
        for d in infos
        if source_ids is None or d.source_id in source_ids
    ]


def deleted_file_infos(
    rows: Iterable[DeletedFile], r: Redactor, in_scope: set[int] | None = None
) -> list[DeletedFileInfo]:
    """Deleted entries (``in_scope``: only these location ids)."""
    return [
        DeletedFileInfo(
            location=r.path(d.path, sha256=d.sha256),
            size=d.size,
            recovery=d.recovery,
            mtime=iso_ns(d.mtime_ns),
            atime=iso_ns(d.atime_ns),
            ctime=iso_ns(d.ctime_ns),
            crtime=iso_ns(d.crtime_ns),
            sha256=d.sha256,
        )
        for d in rows
        if in_scope is None or d.location_id in in_scope
    ]


# -- traces of creation --------------------------------------------------------------------------
def local_time(at_utc: str | None, offset_min: int | None) -> str | None:
    """The instant on the profile's clock (ISO 8601 with its offset), when the offset is known."""
    if at_utc is None or offset_min is None:
        return None
    try:
        instant = datetime.fromisoformat(at_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    tz = timezone(timedelta(minutes=offset_min))
    return instant.astimezone(tz).isoformat(timespec="seconds")


def link_of(sha: str | None, links: Sequence[DerivationLink]) -> DerivationLink | None:
    """The derivation link that names ``sha`` as the changed picture (or, direction unknown, as
    either of the two)."""
    if not sha:
        return None
    for link in links:
        if link.derived_sha256 == sha and link.source_sha256:
            return link
    for link in links:
        if link.direction != "stated" and link.source_sha256 == sha:
            return link
    return None


def _other(link: DerivationLink, sha: str) -> str | None:
    return link.source_sha256 if link.derived_sha256 == sha else link.derived_sha256


def trace_infos(
    traces: Sequence[StoredTrace],
    places: Mapping[str, str],
    links: Sequence[DerivationLink],
    r: Redactor,
    keep: Callable[[StoredTrace], bool],
) -> list[TraceInfo]:
    """The observed-facts table: one row per trace kept (``keep``), oldest first. ``places``:
    SHA-256 -> the (redacted) location the report shows for it."""
    out = []
    for t in sorted(traces, key=lambda t: (t.record.event.at_utc or "", t.id)):
        if not keep(t):
            continue
        rec, ev = t.record, t.record.event
        sha = rec.matched_sha256
        link = link_of(sha, links)
        source = _other(link, sha) if link is not None and sha else None
        file_path = t.matched_path
        out.append(
            TraceInfo(
                trace_id=t.id,
                browser=ev.browser,
                profile=r.path(ev.profile, folder=True),
                database=r.path(t.db_path, sha256=None),
                kind=ev.kind,
                url=r.text(ev.url),
                host=rec.host,
                title=r.text(ev.title) if ev.title else None,
                service_id=rec.service_id,
                service_name=rec.service_name,
                at_utc=ev.at_utc,
                at_local=local_time(ev.at_utc, rec.local_offset_min),
                download_path=r.message(ev.download_path) if ev.download_path else None,
                download_bytes=ev.download_bytes,
                in_case=rec.matched_location_id is not None or sha is not None,
                file=places.get(sha or "")
                or (r.path(file_path, sha256=sha) if file_path else None),
                file_sha256=sha,
                match_reason=rec.match_reason,
                derived_from=places.get(source) if source else None,
                derived_from_sha256=source,
                source_row=ev.source_row,
            )
        )
    return out


def inferences(traces: Sequence[TraceInfo], links: Sequence[DerivationLink]) -> list[InferenceInfo]:
    """What the facts suggest, each with its basis: a downloaded file found in the case is the
    one the browser recorded; such a file is an altered copy of a photo of the case."""
    out: list[InferenceInfo] = []
    for t in traces:
        if t.kind != "download" or not t.in_case or not t.file:
            continue
        where = f" from {t.service_name}" if t.service_name else f" from {t.host}"
        out.append(
            InferenceInfo(
                statement=f"The file {t.file} is the file the browser ({t.browser}) recorded "
                f"downloading{where}" + (f" on {t.at_utc}" if t.at_utc else "") + ".",
                basis=MATCH_WORDS.get(t.match_reason or "", "the download was matched to it")
                + f" (download row {t.source_row or t.trace_id}).",
                trace_ids=(t.trace_id,),
                sha256=(t.file_sha256,) if t.file_sha256 else (),
            )
        )
        link = link_of(t.file_sha256, links)
        if link is None or not t.derived_from or not t.file_sha256:
            continue
        changed = link.details.get("changed_fraction")
        changed_words = (
            f"; about {100 * float(changed):.0f} % of the picture differs"
            if isinstance(changed, int | float)
            else ""
        )
        swap = link.details.get("face_swap")
        swap_words = "; the face in it is another person's" if swap is True else ""
        if link.direction == "stated" and link.derived_sha256 == t.file_sha256:
            statement = (
                f"The downloaded file {t.file} is an altered picture made from the photo "
                f"{t.derived_from}, which is also in the case."
            )
            confidence = link.direction_confidence
            basis = (
                "the derivation pass linked the two pictures"
                + changed_words
                + swap_words
                + (
                    f"; confidence of the direction {confidence:.2f}"
                    if confidence is not None
                    else ""
                )
                + "; together with the download row, this suggests the file was made with the "
                "service from that photo. An inference for the examiner to weigh."
            )
        else:
            statement = (
                f"The downloaded file {t.file} and the photo {t.derived_from} are copies of "
                "each other (one changed); which one came first is not known."
            )
            basis = "the derivation pass linked the two pictures" + changed_words + swap_words
        out.append(
            InferenceInfo(
                statement=statement,
                basis=basis,
                trace_ids=(t.trace_id,),
                sha256=(t.file_sha256, t.derived_from_sha256 or ""),
            )
        )
    return out


def paths_in_text(text: str, r: Redactor, known: Mapping[str, str | None]) -> str:
    """A line naming locations (``known``: path -> SHA-256) with each of them redacted as a
    path (its names replaced as everywhere in the report) and the words between as a message."""
    if not r.active:
        return text
    if not r.roots:
        return r.message(text)
    roots = re.compile("|".join(re.escape(root) for root in r.roots))
    out, i = [], 0
    while (m := roots.search(text, i)) is not None:
        start = m.start()
        end = next((e for e in range(len(text), m.end() - 1, -1) if text[start:e] in known), None)
        if end is None:  # not a location of the case: left to the message rules
            out.append(r.message(text[i : m.end()]))
            i = m.end()
            continue
        out.append(r.message(text[i:start]))
        out.append(r.path(text[start:end], sha256=known[text[start:end]]))
        i = end
    out.append(r.message(text[i:]))
    return "".join(out)


def timeline_infos(
    timelines: Mapping[str, Sequence[TimelineEvent]],
    paths: Mapping[int, str],
    r: Redactor,
    scope: str | None,
    in_scope_shas: set[str],
    known: Mapping[str, str | None] | None = None,
) -> list[PersonTimelineInfo]:
    """A timeline per person; a person-scoped report holds that person's only, and only the
    steps on that person's files or on no file at all (a visit)."""
    out = []
    for code in sorted(timelines, key=lambda c: (c[:1], int(c[1:]) if c[1:].isdigit() else 0)):
        if scope is not None and code != scope:
            continue
        steps = []
        for e in timelines[code]:
            path = paths.get(e.location_id) if e.location_id is not None else None
            if scope is not None and (e.sha256 or path) and e.sha256 not in in_scope_shas:
                continue
            # the path first: its names, once replaced, are replaced in the text too
            location = r.path(path, sha256=e.sha256) if path else None
            steps.append(
                TimelineStepInfo(
                    at_utc=e.at_utc,
                    step=e.step,
                    observed=e.observed,
                    what=paths_in_text(e.what, r, known or {}),
                    basis=paths_in_text(e.basis, r, known or {}),
                    location=location,
                    sha256=e.sha256,
                    trace_id=e.trace_id,
                )
            )
        if steps:
            out.append(PersonTimelineInfo(code, tuple(steps)))
    return out


# -- videos ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoFacts:
    """A video content as the store keeps it (contents' video columns)."""

    sha256: str
    duration_s: float | None
    codec: str | None
    frame_count: int | None


def video_info(item: ReportItem, facts: VideoFacts, explicit_payload: str | None) -> VideoInfo:
    """The item's video fields: what was measured, and the frames the analyzers labelled (the
    explicit analyzer's evidence lists them)."""
    frames = _frames(explicit_payload)
    return VideoInfo(
        container=item.mime,
        duration_s=round(facts.duration_s, 2) if facts.duration_s is not None else None,
        codec=facts.codec,
        frame_count=facts.frame_count,
        frames_analysed=len(frames),
        worst_label=item.explicit_label,
        frames=frames,
    )


def _frames(payload: str | None) -> tuple[VideoFrameInfo, ...]:
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        return ()
    rows: Any = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        return ()
    out = []
    for f in rows:
        if not isinstance(f, dict):
            continue
        at = f.get("t")  # analyzers.video: {"t": seconds, "frame": n, "label": ..., "score": ...}
        label = f.get("label")
        out.append(
            VideoFrameInfo(
                round(float(at), 2) if isinstance(at, int | float) else 0.0,
                str(label) if label is not None else None,
            )
        )
    return tuple(out)


def video_group_infos(
    groups: Sequence[VideoGroup], places: Mapping[str, str], in_scope: set[str] | None
) -> list[VideoGroupInfo]:
    """Numbered groups (a person-scoped report: members in scope only, groups of two or more)."""
    out: list[VideoGroupInfo] = []
    for g in groups:
        members = tuple(m for m in g.members if in_scope is None or m in in_scope)
        if len(members) < 2:
            continue
        kept = set(members)
        out.append(
            VideoGroupInfo(
                group=len(out) + 1,
                kind=g.kind,
                members=members,
                locations=tuple(places.get(m, "") for m in members),
                matches=tuple(
                    VideoMatchInfo(
                        m.sha_a, m.sha_b, round(m.a_matched_pct, 1), round(m.b_matched_pct, 1)
                    )
                    for m in g.matches
                    if m.sha_a in kept and m.sha_b in kept
                ),
            )
        )
    return out


__all__ = [
    "StoredTrace",
    "VideoFacts",
    "deleted_file_infos",
    "disk_image_reports",
    "inferences",
    "iso_ns",
    "link_of",
    "local_time",
    "timeline_infos",
    "trace_infos",
    "video_group_infos",
    "video_info",
]
