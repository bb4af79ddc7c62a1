"""The optional image analyzers (explicit content, faces) and the review thumbnail, per process.

Models load once per worker process (``init_process``), from installed packages only. Which
analyzers run is the scan's ``AnalysisPlan`` (``--only`` / ``--skip``). The loaders are the seam
tests use to put a stand-in analyzer in place of a real model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .analyzers import explicit as explicit_mod
from .analyzers import faces as faces_mod
from .imaging import ANALYSIS_SIDE, DecodedImage
from .thumbnails import ThumbnailRecord, write_face_crop, write_thumbnail

OPTIONAL_ANALYZERS = ("explicit", "faces")
THUMBNAIL = "thumbnail"  # not an analyzer, but also redone when missing


@dataclass(frozen=True)
class AnalysisPlan:
    analyzers: frozenset[str] = frozenset(OPTIONAL_ANALYZERS)
    case_dir: str | None = None  # where thumbnails and face crops go; None: write nothing


@dataclass
class FindingRecord:
    sha256: str
    analyzer: str
    analyzer_version: str
    model_sha256: str | None
    status: str  # ok | error
    label: str | None
    score: float | None
    payload: str  # JSON


@dataclass
class FaceRecord:
    sha256: str
    face_index: int
    box_x: float
    box_y: float
    box_w: float
    box_h: float
    analysis_side: int
    landmarks: str
    detector_score: float
    size_px: float
    sharpness: float | None
    frontalness: float
    usable: bool
    flags: str
    embedding: bytes | None
    crop_path: str | None


@dataclass
class ImageAnalysis:
    findings: list[FindingRecord] = field(default_factory=list)
    faces: list[FaceRecord] = field(default_factory=list)
    thumbnail: ThumbnailRecord | None = None


# -- loaders: the seam for stand-ins --------------------------------------------------------
def load_explicit() -> Any:
    return explicit_mod.ExplicitAnalyzer.load()


def load_faces() -> Any:
    return faces_mod.FaceAnalyzer()


_process: dict[str, Any] = {}


def init_process(plan: AnalysisPlan) -> None:
    """Load the plan's models in this process (worker initializer; also used in-process)."""
    _process["plan"] = plan
    for name, loader in (("explicit", load_explicit), ("faces", load_faces)):
        if name not in plan.analyzers:
            _process.pop(name, None)
        elif name not in _process:  # already loaded in this process: keep it
            _process[name] = loader()


def reset_process() -> None:
    """Forget loaded models (tests swap loaders between runs)."""
    _process.clear()


def describe_plan() -> dict[str, Any]:
    """Analyzers with versions, model hashes and thresholds, for the audit log and reports."""
    out: dict[str, Any] = {}
    if (ex := _process.get("explicit")) is not None:
        out["explicit"] = {
            "version": explicit_mod.VERSION,
            "open_nsfw_sha256": ex.model_sha256,
            "nudenet_sha256": ex.regions_model_sha256,
            "thresholds": {
                "safe_below": explicit_mod.SAFE_BELOW,
                "explicit_from": explicit_mod.EXPLICIT_FROM,
                "region_explicit_from": explicit_mod.REGION_EXPLICIT_FROM,
            },
        }
    if (fa := _process.get("faces")) is not None:
        out["faces"] = {
            "version": faces_mod.VERSION,
            "yunet_sha256": fa.detector_sha256,
            "sface_sha256": fa.recognizer_sha256,
            "thresholds": {
                "detection_min_score": faces_mod.DETECTION_MIN_SCORE,
                "min_face_side_px": faces_mod.MIN_FACE_SIDE,
                "analysis_side_px": ANALYSIS_SIDE,
            },
        }
    return out


def analyse_image(
    image: DecodedImage,
    sha256: str,
    needs: frozenset[str] | None = None,
    known_label: str | None = None,
) -> ImageAnalysis:
    """Run the planned analyzers (or only ``needs``) on a decoded image, then its thumbnail."""
    plan: AnalysisPlan = _process.get("plan") or AnalysisPlan(frozenset(), None)
    wanted = plan.analyzers if needs is None else plan.analyzers & needs
    out = ImageAnalysis()
    label = known_label
    if "explicit" in wanted and "explicit" in _process:
        finding = _process["explicit"].analyze(image.rgb)
        label = finding.label.value
        models = [m for m in (finding.model_sha256, finding.regions_model_sha256) if m]
        out.findings.append(
            FindingRecord(
                sha256,
                "explicit",
                explicit_mod.VERSION,
                ",".join(models),
                "error" if finding.error and finding.score is None else "ok",
                label,
                finding.score,
                json.dumps(
                    {
                        "regions": [
                            {"class": r.class_name, "box": list(r.box), "score": round(r.score, 4)}
                            for r in finding.regions
                        ],
                        "regions_checked": finding.regions_model_sha256 is not None,
                        "error": finding.error,
                    },
                    sort_keys=True,
                ),
            )
        )
    if "faces" in wanted and "faces" in _process:
        out.faces, finding_record = _faces(image, sha256, plan)
        out.findings.append(finding_record)
    redo_thumbnail = needs is None or "explicit" in wanted or THUMBNAIL in (needs or ())
    if plan.case_dir and redo_thumbnail:
        out.thumbnail = write_thumbnail(Path(plan.case_dir), sha256, image.rgb, label)
    return out


def _faces(
    image: DecodedImage, sha256: str, plan: AnalysisPlan
) -> tuple[list[FaceRecord], FindingRecord]:
    analyzer = _process["faces"]
    finding = analyzer.analyze(image.rgb)
    records = []
    for i, face in enumerate(finding.faces):
        crop = None
        if plan.case_dir:
            try:
                crop = write_face_crop(Path(plan.case_dir), sha256, i, image.rgb, face.box)
            except ValueError:
                crop = None
        emb = None if face.embedding is None else np.asarray(face.embedding, "<f4").tobytes()
        q = face.quality
        x, y, w, h = (float(v) for v in face.box)
        records.append(
            FaceRecord(
                sha256=sha256,
                face_index=i,
                box_x=x,
                box_y=y,
                box_w=w,
                box_h=h,
                analysis_side=int(max(image.rgb.shape[:2])),
                landmarks=json.dumps(
                    [[round(float(px), 2), round(float(py), 2)] for px, py in face.landmarks]
                ),
                detector_score=float(face.score),
                size_px=float(q.size_px),
                sharpness=float(q.sharpness) if np.isfinite(q.sharpness) else None,
                frontalness=float(q.frontalness),
                usable=bool(face.usable),
                flags=",".join(face.flags),
                embedding=emb,
                crop_path=crop,
            )
        )
    usable = sum(1 for r in records if r.usable)
    record = FindingRecord(
        sha256,
        "faces",
        faces_mod.VERSION,
        f"{finding.detector_sha256},{finding.recognizer_sha256}",
        "error" if finding.error else "ok",
        None,
        float(len(records)),
        json.dumps(
            {"faces": len(records), "usable": usable, "error": finding.error}, sort_keys=True
        ),
    )
    return records, record
