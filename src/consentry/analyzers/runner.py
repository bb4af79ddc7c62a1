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

from consentry.analyzers import explicit as explicit_mod
from consentry.analyzers import faces as faces_mod
from consentry.media.decode import ANALYSIS_SIDE, DecodedImage, decode_image
from consentry.media.thumbnails import write_face_crop, write_thumbnail
from consentry.records.items import FaceRecord, FindingRecord, ImageAnalysis
from consentry.records.problems import ItemError

OPTIONAL_ANALYZERS = ("explicit", "faces", "provenance")
# Provenance runs by default: C2PA and metadata cost ~1 ms; its full-resolution watermark check
# skips JPEGs unless asked (ProvenanceSettings), which keeps the scan's speed target.
DEFAULT_ANALYZERS = ("explicit", "faces", "provenance")
THUMBNAIL = "thumbnail"  # not an analyzer, but also redone when missing


@dataclass(frozen=True)
class ProvenanceSettings:
    """How the provenance analyzer is configured for a scan."""

    detector_model: str | None = None  # an operator-provided ONNX classifier, one more signal
    watermarks_in_jpeg: bool = False  # decode JPEGs at full size for the watermark check too
    # C2PA trust anchors as checked PEM text (scan --c2pa-trust-anchors; the file is read once,
    # so what is hashed and recorded is what the readers use)
    c2pa_trust_anchors_pem: str | None = field(default=None, repr=False)

    @property
    def c2pa_trust_anchors_sha256(self) -> str | None:
        import hashlib

        pem = self.c2pa_trust_anchors_pem
        return hashlib.sha256(pem.encode("utf-8")).hexdigest() if pem else None

    def findings_model_key(self) -> str | None:
        """The ``model_sha256`` provenance findings made under these settings carry: another
        detector or other trust anchors redo them (``analyzers.provenance.findings_model_key``)."""
        from consentry.analyzers.models import sha256_of_file
        from consentry.analyzers.provenance import findings_model_key

        model = self.detector_model
        return findings_model_key(
            sha256_of_file(Path(model)) if model else None, self.c2pa_trust_anchors_sha256
        )


@dataclass(frozen=True)
class AnalysisPlan:
    analyzers: frozenset[str] = frozenset(DEFAULT_ANALYZERS)
    case_dir: str | None = None  # where thumbnails and face crops go; None: write nothing
    provenance: ProvenanceSettings = ProvenanceSettings()


# Faces too small in the 512 px picture (full-body shots: the typical "nudified" image) get a
# second look in a sharper decode of the same file, up to SECOND_LOOK_SIDE on the long side,
# where the file has at least SECOND_LOOK_MIN_GAIN times more pixels per side. Only the
# embedding and quality come from the second look; box and landmarks stay in the analysed
# picture's frame. Cost is paid only by images that have small faces.
SECOND_LOOK_SIDE = 1024
SECOND_LOOK_MIN_GAIN = 1.5
SECOND_LOOK_MAX_FACES = 20
SECOND_LOOK_CONTEXT = 1.5  # crop half-width, in face sizes, around the face centre


def second_look(
    analyzer: Any, image: DecodedImage, data: bytes, faces: list[faces_mod.Face]
) -> list[faces_mod.Face]:
    analysed_side = max(image.rgb.shape[:2])
    target = min(max(image.width, image.height), SECOND_LOOK_SIDE)
    if target < analysed_side * SECOND_LOOK_MIN_GAIN:
        return faces
    try:
        sharp = decode_image(data, target).rgb
    except ItemError:
        return faces
    scale = max(sharp.shape[:2]) / analysed_side
    out = list(faces)
    small = [i for i, f in enumerate(faces) if faces_mod.TOO_SMALL in f.flags]
    for i in small[:SECOND_LOOK_MAX_FACES]:
        x, y, w, h = faces[i].box
        cx, cy, half = (
            (x + w / 2) * scale,
            (y + h / 2) * scale,
            max(w, h) * scale * SECOND_LOOK_CONTEXT,
        )
        x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
        x1, y1 = min(sharp.shape[1], int(cx + half)), min(sharp.shape[0], int(cy + half))
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        found = analyzer.analyze(np.ascontiguousarray(sharp[y0:y1, x0:x1])).faces
        centre = (cx - x0, cy - y0)
        near = [
            f
            for f in found
            if abs(f.box[0] + f.box[2] / 2 - centre[0]) < half / SECOND_LOOK_CONTEXT
            and abs(f.box[1] + f.box[3] / 2 - centre[1]) < half / SECOND_LOOK_CONTEXT
        ]
        if not near:
            continue
        best = max(near, key=lambda f: f.box[2] * f.box[3])
        if best.embedding is None:
            continue
        out[i] = faces_mod.Face(
            box=faces[i].box,
            landmarks=faces[i].landmarks,
            score=faces[i].score,
            embedding=best.embedding,
            quality=best.quality,
            usable=best.usable,
            flags=best.flags,
        )
    return out


# -- loaders: the seam for stand-ins --------------------------------------------------------
def load_explicit() -> Any:
    return explicit_mod.ExplicitAnalyzer.load()


def load_faces() -> Any:
    return faces_mod.FaceAnalyzer()


def load_provenance(settings: ProvenanceSettings = ProvenanceSettings()) -> Any:
    from consentry.analyzers.provenance import ProvenanceAnalyzer

    return ProvenanceAnalyzer.load(
        trust_anchors_pem=settings.c2pa_trust_anchors_pem,
        detector_model=settings.detector_model,
        jpeg_full_resolution=settings.watermarks_in_jpeg,
    )


_process: dict[str, Any] = {}


def init_process(plan: AnalysisPlan) -> None:
    """Load the plan's models in this process (worker initializer; also used in-process)."""
    previous: AnalysisPlan | None = _process.get("plan")
    _process["plan"] = plan
    if previous is not None and previous.provenance != plan.provenance:
        _process.pop("provenance", None)  # configured differently: load it again

    def provenance() -> Any:
        return load_provenance(plan.provenance)

    loaders = (("explicit", load_explicit), ("faces", load_faces), ("provenance", provenance))
    for name, loader in loaders:
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
    if (pr := _process.get("provenance")) is not None:
        out["provenance"] = pr.describe()
    return out


def analyse_image(
    image: DecodedImage,
    sha256: str,
    needs: frozenset[str] | None = None,
    known_label: str | None = None,
    data: bytes | None = None,
) -> ImageAnalysis:
    """Run the planned analyzers (or only ``needs``) on a decoded image, then its thumbnail.

    ``data`` (the file's bytes) lets the face analyzer take a second, sharper look at faces too
    small in the analysed picture."""
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
        out.faces, finding_record = _faces(image, sha256, plan, data, label)
        out.findings.append(finding_record)
    if "provenance" in wanted and "provenance" in _process and data is not None:
        out.findings.append(_provenance(_process["provenance"], data, image, sha256))
    redo_thumbnail = needs is None or "explicit" in wanted or THUMBNAIL in (needs or ())
    if plan.case_dir and redo_thumbnail:
        out.thumbnail = write_thumbnail(Path(plan.case_dir), sha256, image.rgb, label)
    return out


def _provenance(analyzer: Any, data: bytes, image: DecodedImage, sha256: str) -> FindingRecord:
    from consentry.analyzers import provenance as provenance_mod

    finding = analyzer.analyze(data, image)
    return FindingRecord(
        sha256=sha256,
        analyzer="provenance",
        analyzer_version=provenance_mod.VERSION,
        model_sha256=analyzer.model_sha256,
        status="error" if finding.error else "ok",
        label=finding.verdict.value,
        score=None,
        payload=json.dumps(finding.to_payload(), sort_keys=True, default=str),
    )


def _faces(
    image: DecodedImage, sha256: str, plan: AnalysisPlan, data: bytes | None, label: str | None
) -> tuple[list[FaceRecord], FindingRecord]:
    analyzer = _process["faces"]
    finding = analyzer.analyze(image.rgb)
    faces = list(finding.faces)
    if data is not None and any(faces_mod.TOO_SMALL in f.flags for f in faces):
        faces = second_look(analyzer, image, data, faces)
    records = []
    for i, face in enumerate(faces):
        crop = None
        if plan.case_dir:
            try:
                crop = write_face_crop(Path(plan.case_dir), sha256, i, image.rgb, face.box, label)
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
