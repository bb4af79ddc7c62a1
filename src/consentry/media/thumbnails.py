"""Review thumbnails and face crops, written into the case folder (never next to evidence).

The blur rule lives here and only here: a thumbnail is rendered sharp only for an image whose
explicit label is ``none``. Explicit, suggestive, unknown, or not analysed at all: the pixels are
pixelated and blurred *before* encoding, so unblurred explicit pixels never reach the disk.
Revealing an image is a separate, logged action (later: the review UI), never a thumbnail.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from consentry.records.items import ThumbnailRecord

THUMB_SIDE = 256
# Pixelation grid on the long side, then a Gaussian blur: at 12 blocks a body or a face is not
# recognisable, while colours and layout still let an examiner tell images apart.
PIXEL_BLOCKS = 12
BLUR_RADIUS_FRACTION = 1 / 24
SHARP_LABEL = "none"  # the only label rendered without blur
THUMB_DIR = "thumbs"
FACE_DIR = "faces"


def must_blur(label: str | None) -> bool:
    return label != SHARP_LABEL


def obscure(img: Image.Image) -> Image.Image:
    """Pixelate to PIXEL_BLOCKS on the long side, then blur: irreversible at this size."""
    w, h = img.size
    scale = PIXEL_BLOCKS / max(w, h)
    small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    blocky = small.resize((w, h), Image.Resampling.NEAREST)
    return blocky.filter(ImageFilter.GaussianBlur(radius=max(w, h) * BLUR_RADIUS_FRACTION))


def render_thumbnail(rgb: np.ndarray, label: str | None) -> tuple[Image.Image, bool]:
    img = Image.fromarray(rgb)
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
    if must_blur(label):
        return obscure(img), True
    return img, False


def write_thumbnail(
    case_dir: Path, sha256: str, rgb: np.ndarray, label: str | None
) -> ThumbnailRecord:
    img, blurred = render_thumbnail(rgb, label)
    rel = Path(THUMB_DIR) / sha256[:2] / f"{sha256}.jpg"
    _atomic_jpeg(case_dir / rel, img)
    return ThumbnailRecord(sha256, rel.as_posix(), blurred, label or "unknown")


def write_face_crop(
    case_dir: Path,
    sha256: str,
    index: int,
    rgb: np.ndarray,
    box: tuple[float, float, float, float],
    label: str | None,
) -> str:
    """A tight crop of the face box only (no body), for identity review. The blur rule applies
    as to thumbnails: a crop of an image not labelled ``none`` is obscured before encoding (a
    tight box can still hold explicit pixels, and the crop is a picture of the victim)."""
    x, y, w, h = box
    height, width = rgb.shape[:2]
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty face box {box}")
    rel = Path(FACE_DIR) / sha256[:2] / f"{sha256}_{index}.jpg"
    crop = Image.fromarray(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    _atomic_jpeg(case_dir / rel, obscure(crop) if must_blur(label) else crop)
    return rel.as_posix()


def _atomic_jpeg(path: Path, img: Image.Image) -> None:
    # write then rename: a killed scan never leaves a half-written file under the final name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            img.convert("RGB").save(fh, "JPEG", quality=85)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
