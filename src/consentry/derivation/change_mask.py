"""Where two aligned pictures differ: the change mask of a derived picture against its source.

The source is warped into the other picture's frame; both are blurred (so that resampling and
JPEG noise, which touch every pixel a little, fall below the threshold, while a replaced region
differs a lot), the colours are matched with a per-channel linear fit on the pixels that agree
(a re-encode or a mild colour edit shifts the whole picture), and the remaining difference is
thresholded and cleaned into regions of a useful size.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

BLUR_SIGMA = 2.0  # work pixels
# A pixel changed when its colour differs by more than this (0-255 scale, after blur and colour
# matching) and by more than NOISE_FACTOR times the picture's typical difference.
MIN_DIFFERENCE = 12.0
NOISE_FACTOR = 4.0
# Texture: local standard deviation (grey, TEXTURE_WINDOW px) differing by TEXTURE_RATIO times
# more than the pictures' typical ratio; TEXTURE_FLOOR keeps flat areas from dividing by ~0.
TEXTURE_WINDOW = 11
TEXTURE_RATIO = 2.0
TEXTURE_FLOOR = 3.0
CLOSE_PX = 9  # joins the patchy difference inside a replaced region
MIN_REGION_FRACTION = 0.001  # of the compared area (a 16 px face at 512 px); smaller: noise
EDGE_MARGIN_PX = 3  # resampling at the border of the overlap is not a change
RESIDUAL_HALO_PX = 12  # the residual is measured this far from changed regions
COLOUR_SAMPLE_STEP = 4
DETAIL_SIGMAS = (1.5, 4.0)  # band of the detail agreement: survives resizing and JPEG


@dataclass
class ChangeMask:
    mask: np.ndarray  # HxW bool, in the frame of the picture it describes (work pixels)
    valid: np.ndarray  # HxW bool: the part of that picture the other one covers
    changed_fraction: float  # of the valid area
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h of each changed region, work pixels
    # correlation of fine detail over the unchanged part: ~1 for a copy (even resized and
    # re-encoded), ~0 for two pictures that merely look alike (same studio, pose, template)
    agreement: float = 0.0
    residual: float = 0.0  # 90th percentile of the colour difference over the unchanged part
    largest_share: float = 1.0  # share of the changed area in its largest region


def change_mask(picture: np.ndarray, other: np.ndarray, other_to_picture: np.ndarray) -> ChangeMask:
    """The mask of ``picture`` (HxWx3 uint8) against ``other``, given the 2x3 work-pixel matrix
    that maps ``other`` onto ``picture``."""
    h, w = picture.shape[:2]
    warped = cv2.warpAffine(other, other_to_picture, (w, h), flags=cv2.INTER_LINEAR)
    cover = cv2.warpAffine(
        np.full(other.shape[:2], 255, np.uint8), other_to_picture, (w, h), flags=cv2.INTER_NEAREST
    )
    valid = cv2.erode((cover > 0).astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=EDGE_MARGIN_PX) > 0  # fmt: skip
    if valid.sum() < 0.05 * h * w:
        return ChangeMask(np.zeros((h, w), bool), valid, 0.0, [])
    a = cv2.GaussianBlur(picture.astype(np.float32), (0, 0), BLUR_SIGMA)
    b = cv2.GaussianBlur(warped.astype(np.float32), (0, 0), BLUR_SIGMA)
    b = _match_colours(a, b, valid)
    diff = np.sqrt(((a - b) ** 2).sum(axis=2) / 3.0)
    typical = float(np.median(diff[valid]))
    threshold = max(MIN_DIFFERENCE, NOISE_FACTOR * typical)
    raw = (((diff > threshold) | _texture_lost(picture, warped, valid)) & valid).astype(np.uint8)
    raw = cv2.morphologyEx(raw, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSE_PX, CLOSE_PX))
    closed = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, kernel)
    mask, boxes, largest = _regions(_fill_holes(closed), int(valid.sum() * MIN_REGION_FRACTION))
    mask &= valid
    fraction = float(mask.sum()) / float(valid.sum())
    unchanged = valid & ~mask
    agreement = detail_agreement(picture, warped, unchanged)
    # away from the changed regions: blending (seamless cloning) fades out beyond the mask
    halo = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=RESIDUAL_HALO_PX)
    away = unchanged & (halo == 0)
    residual = float(np.percentile(diff[away][::4], 90)) if away.sum() >= 400 else 0.0
    return ChangeMask(mask, valid, fraction, boxes, agreement, residual, largest)


def detail_agreement(picture: np.ndarray, other: np.ndarray, where: np.ndarray) -> float:
    """Pearson correlation of band-pass detail (difference of Gaussians) over ``where``."""
    if where.sum() < 500:
        return 0.0
    a = _band(picture)[where]
    b = _band(other)[where]
    a -= a.mean()
    b -= b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def _band(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.GaussianBlur(grey, (0, 0), DETAIL_SIGMAS[0]) - cv2.GaussianBlur(
        grey, (0, 0), DETAIL_SIGMAS[1]
    )


def _texture_lost(picture: np.ndarray, other: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Where one picture is smooth and the other textured: an inpainted or smudged region
    can keep the colours of what it replaced, but not its detail."""
    ratio = np.log((_local_std(picture) + TEXTURE_FLOOR) / (_local_std(other) + TEXTURE_FLOOR))
    ratio -= float(np.median(ratio[valid]))  # a downscaled copy is smoother everywhere
    return np.abs(ratio) > np.log(TEXTURE_RATIO)


def _local_std(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    mean = cv2.blur(grey, (TEXTURE_WINDOW, TEXTURE_WINDOW))
    square = cv2.blur(grey * grey, (TEXTURE_WINDOW, TEXTURE_WINDOW))
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


def _match_colours(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fit b -> a per channel (gain, offset) on the pixels that already agree best (a sample of
    every COLOUR_SAMPLE_STEP-th pixel in each direction is plenty for two numbers)."""
    step = COLOUR_SAMPLE_STEP
    sa, sb, sv = a[::step, ::step], b[::step, ::step], valid[::step, ::step]
    diff = np.abs(sa - sb).sum(axis=2)
    if sv.sum() < 50:
        return b
    agree = sv & (diff <= np.percentile(diff[sv], 60))
    out = b.copy()
    for c in range(3):
        x, y = sb[..., c][agree], sa[..., c][agree]
        if x.size < 50:
            continue
        var = float(x.var())
        if var < 1e-3:
            continue
        gain = float(((x - x.mean()) * (y - y.mean())).mean()) / var
        offset = float(y.mean()) - gain * float(x.mean())
        if 0.5 <= gain <= 2.0:
            out[..., c] = b[..., c] * np.float32(gain) + np.float32(offset)
    return out


def carry(change: ChangeMask, a_to_b: np.ndarray, size_b: tuple[int, int]) -> ChangeMask:
    """The same change seen in picture B's frame (``a_to_b`` maps A's work pixels to B's)."""
    w, h = size_b
    cover = cv2.warpAffine(
        np.full(change.mask.shape, 255, np.uint8), a_to_b, (w, h), flags=cv2.INTER_NEAREST
    )
    valid = cv2.erode((cover > 0).astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=EDGE_MARGIN_PX) > 0  # fmt: skip
    moved = cv2.warpAffine(
        change.mask.astype(np.uint8) * 255, a_to_b, (w, h), flags=cv2.INTER_NEAREST
    )
    mask = (moved > 0) & valid
    _, boxes, largest = _regions(mask, 1)
    fraction = float(mask.sum()) / float(valid.sum()) if valid.any() else 0.0
    return ChangeMask(mask, valid, fraction, boxes, change.agreement, change.residual, largest)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = mask
    background = flood.copy()
    cv2.floodFill(background, None, (0, 0), 1)
    holes = background[1:-1, 1:-1] == 0
    return (mask > 0) | holes


def _regions(
    mask: np.ndarray, min_area: int
) -> tuple[np.ndarray, list[tuple[int, int, int, int]], float]:
    """Connected regions of at least ``min_area`` px: the cleaned mask, their boxes (largest
    first) and the share of the kept area in the largest region."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, bool)
    boxes, areas = [], []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= max(1, min_area):
            keep[i] = True
            boxes.append((x, y, w, h))
            areas.append(area)
    largest = max(areas) / sum(areas) if areas else 1.0
    return keep[labels], sorted(boxes, key=lambda b: -b[2] * b[3]), largest


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = float((a | b).sum())
    return float((a & b).sum()) / union if union else 1.0


def mask_to_png(mask: np.ndarray) -> bytes:
    """The mask as stored with a related pair: a 1-bit-looking PNG, compressed fast."""
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def mask_from_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L")) > 0


__all__ = ["ChangeMask", "carry", "change_mask", "iou", "mask_from_png", "mask_to_png"]
