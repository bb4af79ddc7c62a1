"""A video analysed like its keyframes: one finding per analyzer, faces with their time, vPDQ.

``analyse_video`` decodes the video once (``media.video``): vPDQ features at vpdq's rate
(``analyzers.vpdq``, the same frames and hashes as Meta's ``vpdq``), and keyframes at scene
changes (the first frame, at most one a second, at most 60). Each keyframe goes through the
planned image analyzers (``runner.analyse_image``) as a picture of its own; analyzers that read
the file's bytes (provenance: C2PA, generator metadata) run once, on the video's bytes, with the
first keyframe as its picture.

The video then gets, per analyzer, one finding: the label of its worst frame (explicit:
``explicit`` > ``suggestive`` > ``unknown`` > ``none``; provenance: ``confirmed`` >
``indicated`` > ``no_signal``; another analyzer: the label of the frame it scored highest), the
worst frame's score and payload, plus ``frames`` (every frame analysed: time, frame number,
label, score) and ``worst_frame_s``. Faces from all frames are numbered in time order and carry
``frame_s``. The thumbnail is a contact sheet of the keyframes (``media.contact_sheet``),
sharp only when every keyframe is labelled ``none``; a face crop from a frame labelled ``none``
of a video that is not is blurred too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from consentry.analyzers import registry, runner, vpdq
from consentry.analyzers.explicit import Label
from consentry.analyzers.runner import analyse_image
from consentry.media.contact_sheet import write_contact_sheet
from consentry.media.decode import DecodedImage
from consentry.media.thumbnails import FACE_DIR, SHARP_LABEL, must_blur, obscure
from consentry.media.video import DecodedVideo, Keyframe, decode_video
from consentry.records.items import (
    FaceRecord,
    FindingRecord,
    ImageAnalysis,
    VideoFrameHash,
)
from consentry.records.problems import Code, Problem

FRAME_FORMAT = "VIDEO_FRAME"  # DecodedImage.format of a keyframe

# worst first; a label not listed ranks below every listed one
LABEL_ORDER: dict[str, tuple[str, ...]] = {
    "explicit": (Label.EXPLICIT, Label.SUGGESTIVE, Label.UNKNOWN, Label.NONE),
    "provenance": ("confirmed", "indicated", "no_signal"),
}
FACES = "faces"


@dataclass
class VideoOutcome:
    """What the worker stores for one video (see scan.worker._analyse_video)."""

    decoded: bool
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    duration_s: float | None = None
    codec: str | None = None
    problems: list[Problem] = field(default_factory=list)
    analysis: ImageAnalysis | None = None
    hashes: list[VideoFrameHash] = field(default_factory=list)
    keyframes_analysed: int = 0


def analyse_video(data: bytes | BinaryIO, sha256: str) -> VideoOutcome:
    """Decode, hash (vPDQ) and analyse one video. Never raises for a broken video: its
    problems are the outcome's.

    ``data``: the file's bytes, or a seekable binary stream (a video too large to read into
    memory: decoded from the stream; the analyzers that read the file's bytes, provenance,
    are then not run on it)."""
    hashes: list[VideoFrameHash] = []

    def sink(number: int, rate: float, rgb: Any) -> None:
        hashes.append(vpdq.feature(sha256, number, rate, rgb))  # FrameTooSmall: a ValueError

    video = decode_video(data, sink)
    out = VideoOutcome(
        decoded=video.decoded,
        width=video.width,
        height=video.height,
        frame_count=video.frame_count if video.decoded else None,
        duration_s=video.duration_s if video.decoded else None,
        codec=video.codec,
        problems=list(video.problems),
        hashes=hashes,
    )
    if video.keyframes:
        raw = data if isinstance(data, bytes) else None
        out.analysis = analyse_keyframes(video, sha256, raw, out.problems)
        out.keyframes_analysed = len(video.keyframes)
    return out


def _case_dir() -> Path | None:
    # the plan in force in this process (runner.init_process); its case folder is where the
    # contact sheet and face crops go, as for images
    plans = getattr(runner, "_plan", None) or []
    case_dir = plans[0].case_dir if plans else None
    return Path(case_dir) if case_dir else None


def _planned() -> frozenset[str]:
    plans = getattr(runner, "_plan", None) or []
    return plans[0].analyzers if plans else frozenset()


def _frame_image(kf: Keyframe) -> DecodedImage:
    return DecodedImage(
        format=FRAME_FORMAT,
        width=kf.width,
        height=kf.height,
        mode="RGB",
        frames=1,
        orientation=1,
        exif={},
        rgb=kf.rgb,
    )


def _frame_key(sha256: str, kf: Keyframe) -> str:
    # each frame is analysed under a name of its own so that its face crops do not overwrite
    # another frame's; they are renamed to the video's afterwards
    return f"{sha256}_f{kf.frame_number}"


def _blur_analyzers() -> set[str]:
    names = set()
    for name in _planned():
        try:
            if registry.get(name).decides_blur:
                names.add(name)
        except registry.UnknownAnalyzer:
            continue
    return names


def _byte_analyzers() -> frozenset[str]:
    names = set()
    for name in _planned():
        try:
            if registry.get(name).needs_bytes:
                names.add(name)
        except registry.UnknownAnalyzer:
            continue
    return frozenset(names)


def analyse_keyframes(
    video: DecodedVideo, sha256: str, data: bytes | None, problems: list[Problem]
) -> ImageAnalysis:
    case_dir = _case_dir()
    blur_names = _blur_analyzers()
    per_frame: list[tuple[Keyframe, ImageAnalysis]] = []
    for kf in video.keyframes:
        analysis = analyse_image(_frame_image(kf), _frame_key(sha256, kf))  # no bytes
        per_frame.append((kf, analysis))
        if case_dir is not None and analysis.thumbnail is not None:
            (case_dir / analysis.thumbnail.path).unlink(missing_ok=True)  # the sheet replaces it
    labels = [_blur_label(a, blur_names) for _, a in per_frame]
    merged = ImageAnalysis()
    by_analyzer: dict[str, list[tuple[Keyframe, FindingRecord]]] = {}
    for kf, analysis in per_frame:
        for finding in analysis.findings:
            by_analyzer.setdefault(finding.analyzer, []).append((kf, finding))
    faces = _faces(per_frame, sha256, case_dir)
    for name, findings in by_analyzer.items():
        merged.findings.append(_merge(name, findings, sha256, len(faces)))
    video_label = next((f.label for f in merged.findings if f.analyzer in blur_names), None)
    if data is not None:
        merged.findings.extend(_bytes_findings(per_frame[0], sha256, data, video_label, problems))
    merged.faces = faces
    if case_dir is not None and must_blur(video_label if blur_names else None):
        _blur_crops(case_dir, faces, per_frame, labels)
    if case_dir is not None:
        merged.thumbnail = write_contact_sheet(
            case_dir, sha256, [kf.rgb for kf, _ in per_frame], labels, video_label
        )
    return merged


def _blur_label(analysis: ImageAnalysis, blur_names: set[str]) -> str | None:
    for finding in analysis.findings:
        if finding.analyzer in blur_names:
            return finding.label
    return None


def _rank(name: str, label: str | None, score: float | None) -> tuple[int, float]:
    order = LABEL_ORDER.get(name)
    s = score if score is not None else float("-inf")
    if order is None:
        return (0 if label is None else 1, s)
    return (len(order) - order.index(label) if label in order else 0, s)


def _merge(
    name: str, findings: list[tuple[Keyframe, FindingRecord]], sha256: str, faces: int
) -> FindingRecord:
    worst_kf, worst = max(findings, key=lambda kv: _rank(name, kv[1].label, kv[1].score))
    try:
        payload = json.loads(worst.payload)
    except ValueError:
        payload = {"payload": worst.payload}
    if not isinstance(payload, dict):
        payload = {"payload": payload}
    score = worst.score
    if name == FACES:
        payload["faces"] = faces
        payload["usable"] = sum(_faces_usable(f) for _, f in findings)
        errors = [_payload(f).get("error") for _, f in findings]
        payload["error"] = next((e for e in errors if e), None)
        score = float(faces)
    payload["frames"] = [
        {"t": kf.time_s, "frame": kf.frame_number, "label": f.label, "score": f.score}
        for kf, f in findings
    ]
    payload["worst_frame_s"] = worst_kf.time_s
    return FindingRecord(
        sha256=sha256,
        analyzer=name,
        analyzer_version=worst.analyzer_version,
        model_sha256=worst.model_sha256,
        status="ok" if any(f.status == "ok" for _, f in findings) else "error",
        label=worst.label,
        score=score,
        payload=json.dumps(payload, sort_keys=True, default=str),
    )


def _payload(finding: FindingRecord) -> dict[str, Any]:
    try:
        data = json.loads(finding.payload)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _faces_usable(finding: FindingRecord) -> int:
    try:
        return int(_payload(finding).get("usable") or 0)
    except (ValueError, TypeError):
        return 0


def _faces(
    per_frame: list[tuple[Keyframe, ImageAnalysis]], sha256: str, case_dir: Path | None
) -> list[FaceRecord]:
    out: list[FaceRecord] = []
    for kf, analysis in per_frame:
        for face in analysis.faces:
            index = len(out)
            crop = face.crop_path
            if crop is not None and case_dir is not None:
                final = (Path(FACE_DIR) / sha256[:2] / f"{sha256}_{index}.jpg").as_posix()
                src = case_dir / crop
                if src.exists():
                    (case_dir / final).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(src, case_dir / final)
                    crop = final
                else:
                    crop = None
            out.append(
                replace(face, sha256=sha256, face_index=index, crop_path=crop, frame_s=kf.time_s)
            )
    return out


def _blur_crops(
    case_dir: Path,
    faces: list[FaceRecord],
    per_frame: list[tuple[Keyframe, ImageAnalysis]],
    labels: list[str | None],
) -> None:
    """The video is not all ``none``: crops made sharp (from frames labelled ``none``) are
    obscured too, so that no picture from the video is sharper than its contact sheet."""
    from PIL import Image

    sharp_times = {
        kf.time_s for (kf, _), label in zip(per_frame, labels, strict=True) if label == SHARP_LABEL
    }
    for face in faces:
        if face.crop_path is None or face.frame_s not in sharp_times:
            continue
        path = case_dir / face.crop_path
        with Image.open(path) as img:
            blurred = obscure(img.convert("RGB"))
        tmp = path.with_suffix(".tmp")
        blurred.save(tmp, "JPEG", quality=85)
        os.replace(tmp, path)


def _bytes_findings(
    first: tuple[Keyframe, ImageAnalysis],
    sha256: str,
    data: bytes,
    video_label: str | None,
    problems: list[Problem],
) -> list[FindingRecord]:
    """Analyzers that read the file (provenance), once, on the video's own bytes."""
    names = _byte_analyzers()
    if not names:
        return []
    kf, _ = first
    try:
        analysis = analyse_image(
            _frame_image(kf), sha256, needs=names, known_label=video_label, data=data
        )
    except Exception as exc:  # noqa: BLE001 - a plug-in that cannot read video bytes
        problems.append(
            Problem(
                Code.INTERNAL_ERROR,
                f"{', '.join(sorted(names))} on the video's bytes: {type(exc).__name__}: {exc}"[
                    :500
                ],
            )
        )
        return []
    return [_on_video(replace(f, sha256=sha256)) for f in analysis.findings]


NOT_A_PICTURE = "full_resolution"


def _on_video(finding: FindingRecord) -> FindingRecord:
    """Provenance read a video's bytes: its C2PA and metadata checks apply, but decoding the
    file as one full-resolution picture (for image watermarks) cannot, and is no error: that
    check is recorded as not checked, and the finding is an error only for the others."""
    if finding.analyzer != "provenance" or finding.status != "error":
        return finding
    try:
        payload = json.loads(finding.payload)
    except ValueError:
        return finding
    checks = payload.get("checks") if isinstance(payload, dict) else None
    if not isinstance(checks, list):
        return finding
    for check in checks:
        if isinstance(check, dict) and check.get("name") == NOT_A_PICTURE:
            check["status"] = "not_checked"
            check["detail"] = "a video: not decoded as one picture (no image watermark check)"
    failed = [
        f"{c.get('name')}: {c.get('detail')}"
        for c in checks
        if isinstance(c, dict) and c.get("status") == "error"
    ]
    payload["error"] = "; ".join(failed) or None
    return replace(
        finding,
        status="error" if failed else "ok",
        payload=json.dumps(payload, sort_keys=True, default=str),
    )


__all__ = ["FRAME_FORMAT", "LABEL_ORDER", "VideoOutcome", "analyse_keyframes", "analyse_video"]
