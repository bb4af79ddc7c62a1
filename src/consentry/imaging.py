"""Decode an image once per scan, at the reduced size the analyzers need.

Every analyzer receives the same ``DecodedImage``: EXIF orientation applied, RGB uint8, shrunk to
fit ``max_side``. Large JPEGs use Pillow's draft mode, which lets libjpeg decode at 1/2, 1/4 or
1/8 scale directly: a 12 MP photo then costs a fraction of a full decode.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from .problems import Code, ItemError, Problem

try:  # HEIC/HEIF: what phones save by default
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a core dependency
    pass

# The largest phone sensors are 200 MP; anything declaring more is treated as a decompression bomb
# (a few bytes of header can otherwise ask the decoder for tens of GB).
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# PDQ is defined on images shrunk to fit 512 px (Meta's reference does this; see DESIGN.md).
ANALYSIS_SIDE = 512

# EXIF tags worth keeping as evidence; MakerNote and thumbnails are large and opaque.
_SKIP_EXIF_TAGS = {0x927C, 0x0201, 0x0202, 0xA005, 0x8769, 0x8825}


@dataclass
class DecodedImage:
    format: str
    width: int  # as stored in the file, before orientation
    height: int
    mode: str
    frames: int
    orientation: int
    exif: dict[str, str]
    rgb: np.ndarray  # HxWx3 uint8, orientation applied, fits in max_side
    problems: list[Problem] = field(default_factory=list)


def decode_image(data: bytes, max_side: int = ANALYSIS_SIDE) -> DecodedImage:
    """Decode ``data`` for analysis; raise ItemError with a stable code when it cannot be."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ItemError(Code.DECOMPRESSION_BOMB, f"declared size too large: {exc}") from None
    except UnidentifiedImageError:
        raise ItemError(Code.UNRECOGNIZED_IMAGE, "no image decoder recognises the data") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ItemError(Code.CORRUPT_IMAGE, f"cannot open image: {exc}") from None

    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ItemError(
            Code.DECOMPRESSION_BOMB,
            f"declared size {width}x{height} exceeds {MAX_IMAGE_PIXELS:,} pixels",
        )
    if width <= 0 or height <= 0:
        raise ItemError(Code.CORRUPT_IMAGE, f"invalid declared size {width}x{height}")

    problems: list[Problem] = []
    frames = int(getattr(img, "n_frames", 1) or 1)
    if frames > 1:
        problems.append(
            Problem(Code.ANIMATED_IMAGE, f"{frames} frames; the first frame was analysed")
        )
    fmt = img.format or "unknown"
    mode = img.mode
    try:
        if fmt == "JPEG":
            # draft keeps the scaled size >= requested, so quality at max_side is unaffected
            img.draft("RGB", (max_side, max_side))
        # decode before reading EXIF: PNG's getexif() decodes the image itself, and a failure
        # there was swallowed with the EXIF, after which load() returned blank pixels silently
        img.load()
        try:
            exif = img.getexif()
        except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
            exif = Image.Exif()
        orientation = int(exif.get(0x0112, 1) or 1) if exif else 1
        if orientation not in range(1, 9):
            orientation = 1
        rgb_img = _to_rgb(img)
        rgb_img = _apply_orientation(rgb_img, orientation)
        if max(rgb_img.size) > max_side:
            rgb_img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
        array = np.asarray(rgb_img, dtype=np.uint8)
    except OSError as exc:
        text = str(exc)
        # Pillow says "truncated" when the data ends early; "broken data stream" is a decoder
        # error on data that is there (bit rot, tampering), so it is corrupt, not truncated
        if "truncated" in text.lower():
            raise ItemError(Code.TRUNCATED_IMAGE, f"image data ends early: {text}") from None
        raise ItemError(Code.CORRUPT_IMAGE, f"cannot decode image: {text}") from None
    except (ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ItemError(Code.CORRUPT_IMAGE, f"cannot decode image: {exc}") from None

    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        frames=frames,
        orientation=orientation,
        exif=_exif_as_text(exif),
        rgb=array,
        problems=problems,
    )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB without losing the picture (16-bit, float, CMYK, palette)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        gray = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # composite on white: transparent pixels otherwise carry arbitrary colour values
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode != "RGB":
        return img.convert("RGB")
    return img


def _apply_orientation(img: Image.Image, orientation: int) -> Image.Image:
    if orientation == 1:
        return img
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }[orientation]
    return img.transpose(method)


def _exif_as_text(exif: Image.Exif) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag, value in exif.items():
        if tag in _SKIP_EXIF_TAGS:
            continue
        name = ExifTags.TAGS.get(tag, f"0x{tag:04x}")
        if isinstance(value, bytes):
            continue
        text = str(value)
        out[name] = text[:256]
    try:
        ifd = exif.get_ifd(0x8769)  # Exif sub-IFD: DateTimeOriginal, camera settings
    except Exception:  # noqa: BLE001
        ifd = {}
    for tag, value in ifd.items():
        if tag in _SKIP_EXIF_TAGS or isinstance(value, bytes):
            continue
        out[ExifTags.TAGS.get(tag, f"0x{tag:04x}")] = str(value)[:256]
    return out


__all__ = ["ANALYSIS_SIDE", "DecodedImage", "MAX_IMAGE_PIXELS", "decode_image"]
