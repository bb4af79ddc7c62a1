"""The face analyzer under the contract: YuNet + SFace, one finding per image (the number of
faces) plus one ``FaceRecord`` per face for the store's face table (persons are built from it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from consentry.analyzers import faces as engine_mod
from consentry.analyzers.contract import (
    AnalysisInput,
    Analyzer,
    ErrorRate,
    Finding,
    MethodDescription,
    ModelDigest,
    Threshold,
)
from consentry.analyzers.plan import AnalysisPlan
from consentry.media.decode import ANALYSIS_SIDE
from consentry.media.thumbnails import write_face_crop
from consentry.records.analyzer_counts import CountRule, FaceTableCounts
from consentry.records.items import FaceRecord

BENCHMARK = "docs/benchmarks.md, 'Face verification' (bench/face_verification.py, 2026-11-26)"


@dataclass(frozen=True)
class FacesPayload:
    faces: int
    usable: int
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {"faces": self.faces, "usable": self.usable, "error": self.error}


class FacesAnalyzer(Analyzer):
    name = engine_mod.NAME
    version = engine_mod.VERSION
    dedicated_report_fields = True  # shown as the persons its faces belong to
    method: ClassVar[MethodDescription] = MethodDescription(
        "YuNet face detection and SFace 128-d identity embedding; faces under 48 px in the "
        "analysed 512 px picture, blurred or in profile are recorded but not usable.",
        (
            ErrorRate(
                "real faces, held-out identities: ROC AUC; TAR at FAR 0.1 %",
                "AUC 1.0000; TAR 1.000 (2,043 genuine / 17,293 impostor pairs; small, easy sets)",
                BENCHMARK,
            ),
            ErrorRate(
                "synthetic people (openpeople): impostor pairs passing the match threshold",
                "6 % (FAR 0.0598 at similarity 0.46); AUC 0.949",
                BENCHMARK,
            ),
        ),
    )

    def __init__(self, engine: engine_mod.FaceAnalyzer) -> None:
        self.engine = engine

    @classmethod
    def load(cls, plan: AnalysisPlan) -> FacesAnalyzer:
        return cls(engine_mod.load_faces())

    def model_files(self) -> tuple[ModelDigest, ...]:
        return (
            ModelDigest("yunet", self.engine.detector_sha256),
            ModelDigest("sface", self.engine.recognizer_sha256),
        )

    def thresholds(self) -> tuple[Threshold, ...]:
        return (
            Threshold("detection_min_score", engine_mod.DETECTION_MIN_SCORE),
            Threshold("min_face_side_px", engine_mod.MIN_FACE_SIDE),
            Threshold("analysis_side_px", ANALYSIS_SIDE),
        )

    def describe(self) -> dict[str, Any]:
        # the form scans have always recorded (audit logs of older cases read the same)
        return {
            "version": self.version,
            "yunet_sha256": self.engine.detector_sha256,
            "sface_sha256": self.engine.recognizer_sha256,
            "thresholds": {t.name: t.value for t in self.thresholds()},
        }

    def analyze(self, content: AnalysisInput) -> Finding:
        image, sha256 = content.image, content.sha256
        finding = self.engine.analyze(image.rgb)
        faces = list(finding.faces)
        if content.data is not None and any(engine_mod.TOO_SMALL in f.flags for f in faces):
            faces = engine_mod.second_look(self.engine, image, content.data, faces)
        records = []
        for i, face in enumerate(faces):
            crop = None
            if content.case_dir is not None:
                try:
                    crop = write_face_crop(
                        content.case_dir, sha256, i, image.rgb, face.box, content.blur_label
                    )
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
        return Finding(
            label=None,
            score=float(len(records)),
            payload=FacesPayload(len(records), sum(1 for r in records if r.usable), finding.error),
            model_key=f"{finding.detector_sha256},{finding.recognizer_sha256}",
            error=bool(finding.error),
            faces=tuple(records),
        )

    @classmethod
    def counting(cls) -> CountRule:
        return FaceTableCounts(cls.name)

    @classmethod
    def uco_classes(cls, label: str | None, score: float | None) -> list[tuple[str, float | None]]:
        return []  # a face is classified by the person it shows (reports.case_uco), not here


__all__ = ["FacesAnalyzer", "FacesPayload"]
