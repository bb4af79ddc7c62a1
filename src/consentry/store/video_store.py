"""The SQL of videos: their vPDQ features (``video_hashes``) and one line per video for the
reports (length, codec, frames analysed, label, contact sheet, where it was found).

Read-only: the rows are written by ``CaseStore.record`` from the worker's results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from consentry.records.items import VideoFrameHash
from consentry.store.case_store import (
    CONTENT_PROBLEMS,
    CONTENTS,
    FACES,
    FINDINGS,
    LOCATIONS,
    THUMBS,
    VIDEO_HASHES,
    CaseStore,
)

BLUR_ANALYZER = "explicit"  # the analyzer whose label the contact sheet's blur goes by


@dataclass(frozen=True)
class VideoSummary:
    """One video content of the case, as reports list it."""

    sha256: str
    md5: str
    sha1: str
    size: int
    mime: str
    codec: str | None
    width: int | None
    height: int | None
    frame_count: int | None  # frames decoded
    duration_s: float | None
    frames_analysed: int  # keyframes the analyzers looked at
    label: str | None  # the explicit label of its worst frame (None: not analysed)
    worst_frame_s: float | None  # the time of that frame
    faces: int
    vpdq_features: int
    thumbnail_path: str | None  # the contact sheet, relative to the case folder
    thumbnail_blurred: bool | None
    locations: tuple[str, ...]  # where it was found (display paths), sorted
    problem_codes: tuple[str, ...]  # its content problems (corrupt_video, video_too_long...)


def _engine(engine_or_store: Engine | CaseStore | Any) -> Engine:
    """Accept an engine, a CaseStore, or anything holding a ``store`` (a Case)."""
    if isinstance(engine_or_store, Engine):
        return engine_or_store
    if isinstance(engine_or_store, CaseStore):
        return engine_or_store.engine
    store = getattr(engine_or_store, "store", None)
    if isinstance(store, CaseStore):
        return store.engine
    engine = getattr(engine_or_store, "engine", None)
    if isinstance(engine, Engine):
        return engine
    raise TypeError(f"not an engine or a case store: {type(engine_or_store).__name__}")


def video_hashes(
    engine_or_store: Engine | CaseStore | Any, shas: Iterable[str] | None = None
) -> dict[str, list[VideoFrameHash]]:
    """vPDQ features per video (all videos, or those in ``shas``), in frame order."""
    stmt = select(VIDEO_HASHES).order_by(VIDEO_HASHES.c.sha256, VIDEO_HASHES.c.frame_number)
    wanted = None if shas is None else set(shas)
    out: dict[str, list[VideoFrameHash]] = {}
    with _engine(engine_or_store).connect() as conn:
        for r in conn.execute(stmt):
            if wanted is not None and r.sha256 not in wanted:
                continue
            out.setdefault(r.sha256, []).append(
                VideoFrameHash(
                    r.sha256, int(r.frame_number), float(r.timestamp_s), r.pdq, int(r.quality)
                )
            )
    return out


def video_shas(engine_or_store: Engine | CaseStore | Any) -> list[str]:
    """Every content that is a video (decoded or not: a corrupt one is listed too), sorted."""
    stmt = select(CONTENTS.c.sha256).where(CONTENTS.c.mime.like("video/%"))
    with _engine(engine_or_store).connect() as conn:
        return sorted(str(s) for s in conn.execute(stmt).scalars())


def videos(engine_or_store: Engine | CaseStore | Any) -> list[VideoSummary]:
    """One summary per video content, sorted by where it was first found."""
    engine = _engine(engine_or_store)
    is_video = CONTENTS.c.mime.like("video/%")

    def of_videos(*cols: Any) -> Any:
        table = cols[0].table
        return (
            select(*cols)
            .select_from(table.join(CONTENTS, table.c.sha256 == CONTENTS.c.sha256))
            .where(is_video)
        )

    with engine.connect() as conn:
        contents = list(conn.execute(select(CONTENTS).where(is_video)))
        shas = [c.sha256 for c in contents]
        if not shas:
            return []
        findings: dict[str, Any] = {}
        any_frames: dict[str, int] = {}
        for fr in conn.execute(
            of_videos(FINDINGS.c.sha256, FINDINGS.c.analyzer, FINDINGS.c.label, FINDINGS.c.payload)
        ):
            if fr.analyzer == BLUR_ANALYZER:
                findings[fr.sha256] = fr
            any_frames[fr.sha256] = max(any_frames.get(fr.sha256, 0), _frames(fr.payload)[0])
        thumbs = {
            t.sha256: t
            for t in conn.execute(of_videos(THUMBS.c.sha256, THUMBS.c.path, THUMBS.c.blurred))
        }
        faces: dict[str, int] = {}
        for (sha,) in conn.execute(of_videos(FACES.c.sha256)):
            faces[sha] = faces.get(sha, 0) + 1
        features: dict[str, int] = {}
        for (sha,) in conn.execute(of_videos(VIDEO_HASHES.c.sha256)):
            features[sha] = features.get(sha, 0) + 1
        places: dict[str, list[tuple[int, str]]] = {}
        for loc in conn.execute(of_videos(LOCATIONS.c.sha256, LOCATIONS.c.id, LOCATIONS.c.path)):
            places.setdefault(loc.sha256, []).append((int(loc.id), str(loc.path)))
        problems: dict[str, set[str]] = {}
        for prob in conn.execute(of_videos(CONTENT_PROBLEMS.c.sha256, CONTENT_PROBLEMS.c.code)):
            problems.setdefault(prob.sha256, set()).add(str(prob.code))
    out = []
    for c in contents:
        f = findings.get(c.sha256)
        analysed, worst = _frames(f.payload) if f is not None else (0, None)
        t = thumbs.get(c.sha256)
        out.append(
            VideoSummary(
                sha256=c.sha256,
                md5=c.md5,
                sha1=c.sha1,
                size=int(c.size),
                mime=c.mime,
                codec=c.video_codec,
                width=c.width,
                height=c.height,
                frame_count=c.frames,
                duration_s=c.duration_s,
                frames_analysed=analysed or any_frames.get(c.sha256, 0),
                label=f.label if f is not None else None,
                worst_frame_s=worst,
                faces=faces.get(c.sha256, 0),
                vpdq_features=features.get(c.sha256, 0),
                thumbnail_path=t.path if t is not None else None,
                thumbnail_blurred=bool(t.blurred) if t is not None else None,
                locations=tuple(sorted(p for _, p in places.get(c.sha256, []))),
                problem_codes=tuple(sorted(problems.get(c.sha256, set()))),
            )
        )
    first = {sha: min((i for i, _ in places.get(sha, [])), default=0) for sha in shas}
    out.sort(key=lambda v: (first[v.sha256], v.sha256))
    return out


def _frames(payload: str | None) -> tuple[int, float | None]:
    """Frames analysed and the worst frame's time, from a video finding's payload."""
    try:
        data = json.loads(payload or "{}")
    except ValueError:
        return 0, None
    if not isinstance(data, dict):
        return 0, None
    frames = data.get("frames")
    worst = data.get("worst_frame_s")
    return (
        len(frames) if isinstance(frames, list) else 0,
        float(worst) if isinstance(worst, int | float) else None,
    )


def video_contents(engine_or_store: Engine | CaseStore | Any) -> list[VideoSummary]:
    """The case's videos (``videos``), under the name the report collection uses."""
    return videos(engine_or_store)


def case_video_hashes(
    case_dir: str | Path, shas: Iterable[str] | None = None
) -> dict[str, list[VideoFrameHash]]:
    """vPDQ features read from the case folder's own store, for writers that hold only a
    report (hash pack, VICS, CASE/UCO). Empty when the folder's store cannot be read here
    (an external database needs its URL: pass the features in the report instead)."""
    from consentry.store.case import CaseError, open_case_readonly

    try:
        case = open_case_readonly(Path(case_dir))
    except (CaseError, OSError, ValueError, SQLAlchemyError):
        return {}
    try:
        return video_hashes(case.store, shas)
    except SQLAlchemyError:
        return {}
    finally:
        case.close()


__all__ = [
    "VideoSummary",
    "case_video_hashes",
    "video_contents",
    "video_hashes",
    "video_shas",
    "videos",
]
