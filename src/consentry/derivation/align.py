"""Geometric verification of a candidate pair: ORB matches + RANSAC, and the transform between
the two pictures decomposed into what an editor does (crop, scale, rotation, mirror).

The model fitted is a similarity (a homography restricted to rotation, uniform scale and shift,
after an optional mirror), not a full homography: edits and re-posts crop, resize, rotate and
flip, but never change perspective, and the restricted model needs fewer inliers and cannot fit
the perspective-distorted "agreements" that unrelated pictures of similar scenes sometimes give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from consentry.records.features import ImageFeatures

RATIO = 0.8  # Lowe's ratio test on the two nearest descriptors
RANSAC_THRESHOLD_PX = 4.0  # in work pixels (WORK_SIDE on the long side)
MIN_INLIERS = 20
MIN_INLIER_RATIO = 0.25  # of the ratio-test matches
# Scale range that counts as an edit (0.1x .. 10x); outside it the fit is degenerate
MIN_SCALE, MAX_SCALE = 0.1, 10.0

_MATCHER: cv2.BFMatcher | None = None


def _matcher() -> cv2.BFMatcher:
    global _MATCHER
    if _MATCHER is None:
        _MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING)
    return _MATCHER


@dataclass
class Alignment:
    """How picture A maps onto picture B, in work pixels (``matrix`` maps A -> B, 2x3)."""

    matrix: np.ndarray
    mirrored: bool
    inliers: int
    matches: int

    @property
    def inlier_ratio(self) -> float:
        return self.inliers / self.matches if self.matches else 0.0


@dataclass(frozen=True)
class Transform:
    """How the derived picture was made from the source, in file pixels of each.

    ``crop`` is the part of the source the derived picture shows (x, y, w, h, clipped to the
    source); ``scale`` is derived pixels per source pixel; ``rotation_deg`` counter-clockwise;
    ``mirrored`` a left-right flip (a vertical flip reads as mirrored + 180 degrees).
    ``matrix`` maps source file pixels to derived file pixels (2x3, row-major)."""

    crop: tuple[float, float, float, float]
    crop_fraction: float  # share of the source's area not shown in the derived picture
    scale: float
    rotation_deg: float
    mirrored: bool
    matrix: tuple[float, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "crop": {"x": round(self.crop[0], 1), "y": round(self.crop[1], 1),
                     "w": round(self.crop[2], 1), "h": round(self.crop[3], 1)},
            "crop_fraction": round(self.crop_fraction, 4),
            "scale": round(self.scale, 4),
            "rotation_deg": round(self.rotation_deg, 2),
            "mirrored": self.mirrored,
            "matrix": [round(v, 6) for v in self.matrix],
        }  # fmt: skip


def _match(
    desc_a: np.ndarray, pts_a: np.ndarray, desc_b: np.ndarray, pts_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if len(desc_a) < 2 or len(desc_b) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    pairs = _matcher().knnMatch(desc_a, desc_b, k=2)
    keep = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if not keep:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    ia = np.array([m.queryIdx for m in keep])
    ib = np.array([m.trainIdx for m in keep])
    return pts_a[ia], pts_b[ib]


def _fit(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray | None, int]:
    if len(src) < MIN_INLIERS:
        return None, 0
    matrix, inliers = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_THRESHOLD_PX,
        maxIters=2000,
        confidence=0.995,
        refineIters=10,
    )
    if matrix is None or inliers is None:
        return None, 0
    return matrix.astype(np.float64), int(inliers.sum())


def align(a: ImageFeatures, b: ImageFeatures) -> Alignment | None:
    """The best alignment of A onto B (plain or mirrored), or None if they do not agree."""
    best: Alignment | None = None
    work_w = a.work_size[0]
    flip = np.array([[-1.0, 0.0, work_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    for mirrored, pts, desc in (
        (False, a.points, a.descriptors),
        (True, a.mirror_points, a.mirror_descriptors),
    ):
        src, dst = _match(desc, pts, b.descriptors, b.points)
        if mirrored and len(src):
            src = src.copy()
            src[:, 0] = work_w - 1 - src[:, 0]  # into the mirrored picture's frame
        matrix, inliers = _fit(src, dst)
        if matrix is None or inliers < MIN_INLIERS or inliers < MIN_INLIER_RATIO * len(src):
            continue
        scale = math.hypot(matrix[0, 0], matrix[1, 0])
        if not MIN_SCALE <= scale <= MAX_SCALE:
            continue
        if mirrored:
            matrix = (np.vstack([matrix, [0, 0, 1]]) @ flip)[:2]
        if best is None or inliers > best.inliers:
            best = Alignment(matrix, mirrored, inliers, len(src))
    return best


def invert(matrix: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.invertAffineTransform(matrix), dtype=np.float64)


def file_matrix(work_matrix: np.ndarray, scale_from: float, scale_to: float) -> np.ndarray:
    """A work-pixel matrix (from -> to) as a file-pixel one."""
    full = np.vstack([work_matrix, [0, 0, 1]])
    pre = np.diag([scale_from, scale_from, 1.0])
    post = np.diag([1 / scale_to, 1 / scale_to, 1.0])
    return (post @ full @ pre)[:2]


def describe(
    derived_to_source: np.ndarray,
    mirrored: bool,
    derived_size: tuple[int, int],
    source_size: tuple[int, int],
) -> Transform:
    """Decompose a file-pixel matrix (derived -> source) into crop, scale, rotation, mirror."""
    m = derived_to_source
    w, h = derived_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64)
    mapped = corners @ m.T
    sw, sh = source_size
    x0, y0 = max(0.0, mapped[:, 0].min()), max(0.0, mapped[:, 1].min())
    x1, y1 = min(float(sw), mapped[:, 0].max()), min(float(sh), mapped[:, 1].max())
    footprint = _polygon_area_clipped(mapped[:, :2], sw, sh)
    crop_fraction = max(0.0, 1.0 - footprint / float(sw * sh))
    linear = m[:, :2].copy()
    if mirrored:
        linear = linear @ np.diag([-1.0, 1.0])  # undo the flip applied to the derived picture
    scale_d_to_s = math.hypot(linear[0, 0], linear[1, 0])
    angle = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
    to_derived = invert(m)
    return Transform(
        crop=(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)),
        crop_fraction=crop_fraction,
        scale=1.0 / scale_d_to_s if scale_d_to_s else 0.0,
        rotation_deg=-angle if abs(angle) > 1e-9 else 0.0,
        mirrored=mirrored,
        matrix=tuple(float(v) for v in to_derived.ravel()),
    )


def _polygon_area_clipped(poly: np.ndarray, width: float, height: float) -> float:
    """Area of a convex polygon clipped to the rectangle [0, width] x [0, height]."""
    pts = [tuple(p) for p in poly]
    for axis, bound, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False),
                                    (1, height, True)):  # fmt: skip
        pts = _clip(pts, axis, bound, keep_below)
        if not pts:
            return 0.0
    area = 0.0
    for i in range(len(pts)):
        x0, y0 = pts[i]
        x1, y1 = pts[(i + 1) % len(pts)]
        area += x0 * y1 - x1 * y0
    return abs(area) / 2


def _clip(
    pts: list[tuple[float, float]], axis: int, bound: float, keep_below: bool
) -> list[tuple[float, float]]:
    def inside(p: tuple[float, float]) -> bool:
        return p[axis] <= bound if keep_below else p[axis] >= bound

    out: list[tuple[float, float]] = []
    for i in range(len(pts)):
        cur, nxt = pts[i], pts[(i + 1) % len(pts)]
        if inside(cur):
            out.append(cur)
        if inside(cur) != inside(nxt):
            t = (bound - cur[axis]) / (nxt[axis] - cur[axis])
            out.append((cur[0] + t * (nxt[0] - cur[0]), cur[1] + t * (nxt[1] - cur[1])))
    return out


__all__ = ["Alignment", "Transform", "align", "describe", "file_matrix", "invert"]
