"""Per-image data the derivation pass needs: local features (on the picture and its mirror) and a
resolution profile, computed once per content and cached in the store.

Every picture is brought to WORK_SIDE px on its long side (small ones are enlarged) so that ORB's
fixed-size patches see the same amount of scene whatever the file's resolution: a derived image
resized 0.5x and its source then have keypoints at the same scales. ORB descriptors are neither
mirror- nor flip-invariant, so the mirrored picture's descriptors are kept too (a vertical flip is
a mirror plus a 180-degree rotation, which ORB handles).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from consentry.media.decode import decode_image
from consentry.records.features import ImageFeatures

VERSION = "3"  # 3: the resolution profile is measured later, only where a cue needs it
WORK_SIDE = 512
N_FEATURES = 600
# The resolution profile (which tells a reduced copy from its original) is measured on the
# picture decoded up to this side: native for most, reduced (draft mode) for larger photos.
# That decode costs ~100 ms for a 12 MP photo, ten times the work-size one, so it is done only
# for pictures that turn out to be the larger of a related pair (link_pass), not for all.
PROFILE_DECODE_SIDE = 2048
PROFILE_BINS = 16


@dataclass
class WorkPicture:
    """The decoded picture at work size (RGB uint8) and how it relates to the file."""

    rgb: np.ndarray
    width: int
    height: int
    work_scale: float
    native: np.ndarray | None = None  # grey, decoded up to PROFILE_DECODE_SIDE
    native_scale: float = 1.0  # its pixels per file pixel (< 1 for larger pictures)


def work_picture(data: bytes, keep_native: bool = False) -> WorkPicture:
    """Decode ``data`` (orientation applied) and scale it to WORK_SIDE on the long side."""
    side = PROFILE_DECODE_SIDE if keep_native else WORK_SIDE
    decoded = decode_image(data, side)
    rgb = decoded.rgb
    swap = decoded.orientation in (5, 6, 7, 8)
    width, height = (decoded.height, decoded.width) if swap else (decoded.width, decoded.height)
    native, native_scale = None, 1.0
    if keep_native:
        native = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        native_scale = max(rgb.shape[:2]) / max(width, height)
    scale = WORK_SIDE / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if (rgb.shape[1], rgb.shape[0]) != size:
        shrink = rgb.shape[1] > size[0]
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return WorkPicture(np.ascontiguousarray(rgb), width, height, scale, native, native_scale)


_ORB: cv2.ORB | None = None


def _orb() -> cv2.ORB:
    global _ORB
    if _ORB is None:
        _ORB = cv2.ORB_create(nfeatures=N_FEATURES, fastThreshold=10)  # type: ignore[attr-defined]
    return _ORB


def orb_features(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keypoints, descriptors = _orb().detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    order = np.argsort([-k.response for k in keypoints], kind="stable")  # strongest first
    points = np.array([keypoints[i].pt for i in order], dtype=np.float32)
    return points, descriptors[order].astype(np.uint8)


def resolution_profile(gray: np.ndarray) -> np.ndarray:
    """Share of spectral power in PROFILE_BINS radial bands (0 = DC .. Nyquist), of the central
    square at native resolution. An upscaled picture has almost no power above 1/scale of its
    Nyquist frequency; a camera original does."""
    h, w = gray.shape
    side = min(h, w, 512)
    y0, x0 = (h - side) // 2, (w - side) // 2
    tile = gray[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    tile -= tile.mean()
    window = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(tile * window))) ** 2
    yy, xx = np.mgrid[0:side, 0:side]
    radius = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)  # 1.0 = Nyquist
    bins = np.minimum((radius * PROFILE_BINS).astype(int), PROFILE_BINS)  # corners: last+1
    sums = np.bincount(bins.ravel(), weights=power.ravel(), minlength=PROFILE_BINS + 1)
    sums = sums[:PROFILE_BINS]
    sums[0] = 0.0  # DC and the lowest band carry the picture's layout, not its resolution
    total = float(sums.sum())
    return (sums / total if total > 0 else sums).astype(np.float32)


def image_features(sha256: str, picture: WorkPicture) -> ImageFeatures:
    gray = cv2.cvtColor(picture.rgb, cv2.COLOR_RGB2GRAY)
    points, descriptors = orb_features(gray)
    mirrored_points, mirror_descriptors = orb_features(np.ascontiguousarray(gray[:, ::-1]))
    if len(mirrored_points):
        mirrored_points[:, 0] = gray.shape[1] - 1 - mirrored_points[:, 0]
    profile = resolution_profile(picture.native) if picture.native is not None else None
    return ImageFeatures(
        sha256=sha256,
        width=picture.width,
        height=picture.height,
        work_scale=picture.work_scale,
        points=points,
        descriptors=descriptors,
        mirror_points=mirrored_points,
        mirror_descriptors=mirror_descriptors,
        profile=profile,
        profile_scale=picture.native_scale,
    )


def measure_profile(data: bytes) -> tuple[np.ndarray, float]:
    """The resolution profile of an image file and the scale (decoded per file pixel) it was
    measured at. ItemError when the file does not decode."""
    picture = work_picture(data, keep_native=True)
    assert picture.native is not None
    return resolution_profile(picture.native), picture.native_scale


UNMEASURABLE = np.zeros(PROFILE_BINS, np.float32)  # stored when the decode failed: no cue


__all__ = [
    "ImageFeatures",
    "N_FEATURES",
    "VERSION",
    "WORK_SIDE",
    "WorkPicture",
    "image_features",
    "measure_profile",
    "resolution_profile",
    "work_picture",
]
