"""Decode an image once per scan, at the reduced size the analyzers need.

Every analyzer receives the same ``DecodedImage``: EXIF orientation applied, RGB uint8, shrunk to
fit ``max_side``. Large JPEGs use Pillow's draft mode, which lets libjpeg decode at 1/2, 1/4 or
1/8 scale directly: a 12 MP photo then costs a fraction of a full decode. JPEG 2000 can also be
decoded at a reduced resolution level; it is, when a full decode would exceed the byte budget.

Decoding never raises anything but ``ItemError``: Pillow's ~40 format plugins raise nearly every
exception type on hostile input (``TypeError`` for a TIFF without dimensions, ``SyntaxError`` and
``ValueError`` for PSD, ``NotImplementedError`` for DDS pixel formats, ``DecompressionBombError``
from ``load()`` for ICNS), so every stage (open, seek, frame count, load, convert) is guarded and
each failure gets a stable code.

Memory is bounded twice: by pixels (``MAX_IMAGE_PIXELS``, a declared size no camera makes) and by
bytes (``DECODE_BYTE_BUDGET``: the raster Pillow holds plus what decoding and the conversion to
8-bit RGB add, estimated per mode and format before any pixel is decoded). An image within the
pixel limit but over the byte budget is refused with ``too_large_for_analysis``; its bytes are
still hashed. PNG text chunks are bounded per chunk and per file (``PNG_TEXT_*``); a PNG over
them is decoded without its text and marked ``metadata_too_large``.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import (
    ExifTags,
    Image,
    ImageFile,
    Jpeg2KImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
)

from consentry.records.problems import Code, ItemError, Problem

try:  # HEIC/HEIF: what phones save by default
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a core dependency
    pass

# The largest phone sensors are 200 MP; anything declaring more is treated as a decompression bomb
# (a few bytes of header can otherwise ask the decoder for tens of GB).
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

# Bytes one decode may hold at its peak. Pixels alone do not bound memory: Pillow keeps 4 bytes
# per pixel for RGB, RGBA, CMYK, 32-bit integer and float images, some decoders hold their own
# full-size buffers too, and the conversion to 8-bit RGB needs one more 4-byte raster. Measured
# peaks (RSS, tests/test_imaging.py keeps the estimate above them): a 200 MP RGBA or 16-bit grey
# PNG peaked at 4-5 GB (20 and 26 bytes/pixel) when converted in one piece; in strips, 9 and 7.
# Each worker process decodes one image at a time, so with one worker per core this budget is
# the memory per core a scan needs; 1 GiB keeps every image up to ~130 MP decodable whatever its
# mode (JPEGs are decoded at reduced size, so any JPEG within the pixel limit) and refuses what
# would exceed it (``too_large_for_analysis``) instead of letting the kernel kill the worker.
DECODE_BYTE_BUDGET = 1 << 30

# Bytes per pixel of Pillow's raster by mode; unlisted modes take 4 (Pillow's widest pixel).
_RASTER_BYTES = dict.fromkeys(("1", "L", "P"), 1) | dict.fromkeys(
    ("LA", "La", "PA", "I;16", "I;16L", "I;16B", "I;16N", "BGR;15", "BGR;16"), 2
)
# Extra bytes per pixel a decoder holds during load() beyond Pillow's raster (measured: OpenJPEG
# 4 bytes per sample and component, libwebp and libheif their own RGB(A) copies).
_DECODER_BYTES = {"JPEG2000": 16, "WEBP": 12, "HEIF": 8, "AVIF": 8}
# The conversion to RGB (or the EXIF rotation): one more 4-byte raster.
_CONVERT_BYTES = 4
# Rows converted at once: ~1 M pixels whatever the width; their temporaries (crop, RGBA copy,
# white background, composite, float64 for 16-bit) stay under ~24 bytes per strip pixel.
_STRIP_PIXELS = 1 << 20
_STRIP_BYTES = 24 * _STRIP_PIXELS

# PNG text (tEXt/zTXt/iTXt) is inflated by Pillow while it reads the file. One chunk may hold a
# ComfyUI workflow (rarely over 1 MB); a file's total is what provenance reads too. Pillow raises
# when either is exceeded; the picture is then decoded from a copy without its text chunks.
PNG_TEXT_CHUNK_BYTES = 4 << 20
PNG_TEXT_FILE_BYTES = 16 << 20
PngImagePlugin.MAX_TEXT_CHUNK = PNG_TEXT_CHUNK_BYTES
PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_FILE_BYTES
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}

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
    """Decode ``data`` for analysis; raise ItemError with a stable code when it cannot be.

    Never raises anything else for any input (see the module docstring)."""
    # A truncated picture is evidence of a cut-short file and gets ``truncated_image``. Pillow's
    # process-wide switch says otherwise once WeasyPrint is imported (it sets it True when a PDF
    # report is written), which a shell that scans and reports in one process would inherit.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        return _decode_guarded(data, max_side)
    except ItemError as exc:
        if exc.code is not Code.METADATA_TOO_LARGE:
            raise
    # the text chunks are over budget: decode the picture from a copy without them
    stripped = _png_without_text(data)
    if stripped is None:
        raise ItemError(Code.CORRUPT_IMAGE, "cannot decode image: unreadable PNG chunk layout")
    try:
        image = _decode_guarded(stripped, max_side)
    except ItemError as exc:
        if exc.code is not Code.METADATA_TOO_LARGE:
            raise
        # not text after all (an ICC profile inflating beyond the chunk limit)
        raise ItemError(Code.CORRUPT_IMAGE, f"cannot open image: {exc.message}") from None
    image.problems.append(
        Problem(
            Code.METADATA_TOO_LARGE,
            f"PNG text chunks inflate beyond {PNG_TEXT_CHUNK_BYTES:,} bytes per chunk or "
            f"{PNG_TEXT_FILE_BYTES:,} per file: the picture was analysed without them",
        )
    )
    return image


def _decode_guarded(data: bytes, max_side: int) -> DecodedImage:
    stage = ["open"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(data, max_side, stage)
    except ItemError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ItemError(Code.DECOMPRESSION_BOMB, f"declared size too large: {exc}") from None
    except UnidentifiedImageError:
        raise ItemError(Code.UNRECOGNIZED_IMAGE, "no image decoder recognises the data") from None
    except MemoryError:
        raise ItemError(
            Code.TOO_LARGE_FOR_ANALYSIS, f"out of memory while decoding ({stage[0]})"
        ) from None
    except NotImplementedError as exc:
        raise ItemError(
            Code.UNSUPPORTED_IMAGE_FORMAT, f"the decoder does not support this variant: {exc}"
        ) from None
    except ValueError as exc:
        if "MAX_TEXT_CHUNK" in str(exc) or "MAX_TEXT_MEMORY" in str(exc):
            raise ItemError(Code.METADATA_TOO_LARGE, str(exc)) from None
        raise ItemError(Code.CORRUPT_IMAGE, _why(stage[0], exc)) from None
    except OSError as exc:
        text = str(exc)
        # Pillow says "truncated" when the data ends early; "broken data stream" is a decoder
        # error on data that is there (bit rot, tampering), so it is corrupt, not truncated
        if stage[0] != "open" and "truncated" in text.lower():
            raise ItemError(Code.TRUNCATED_IMAGE, f"image data ends early: {text}") from None
        raise ItemError(Code.CORRUPT_IMAGE, _why(stage[0], exc)) from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise every type on bad input
        # SyntaxError, EOFError, TypeError, struct.error, IndexError, KeyError, RuntimeError
        # (pillow-heif), ZeroDivisionError, AttributeError, BLPFormatError, ...
        raise ItemError(Code.CORRUPT_IMAGE, _why(stage[0], exc)) from None


def _why(stage: str, exc: BaseException) -> str:
    what = "open" if stage == "open" else "decode"
    return f"cannot {what} image ({stage}): {type(exc).__name__}: {exc}"[:500]


def _decode(data: bytes, max_side: int, stage: list[str]) -> DecodedImage:
    img = Image.open(io.BytesIO(data))
    try:
        return _decode_open(img, max_side, stage)
    finally:
        img.close()


def _decode_open(img: Image.Image, max_side: int, stage: list[str]) -> DecodedImage:
    stage[0] = "size"
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ItemError(
            Code.DECOMPRESSION_BOMB,
            f"declared size {width}x{height} exceeds {MAX_IMAGE_PIXELS:,} pixels",
        )
    if width <= 0 or height <= 0:
        raise ItemError(Code.CORRUPT_IMAGE, f"invalid declared size {width}x{height}")

    problems: list[Problem] = []
    stage[0] = "frames"
    frames = int(getattr(img, "n_frames", 1) or 1)
    if frames > 1:
        problems.append(
            Problem(Code.ANIMATED_IMAGE, f"{frames} frames; the first frame was analysed")
        )
    fmt = img.format or "unknown"
    mode = img.mode
    stage[0] = "draft"
    if fmt == "JPEG":
        # draft keeps the scaled size >= requested, so quality at max_side is unaffected
        img.draft("RGB", (max_side, max_side))
    _fit_byte_budget(img, fmt, max_side)
    # decode before reading EXIF: PNG's getexif() decodes the image itself, and a failure
    # there was swallowed with the EXIF, after which load() returned blank pixels silently
    stage[0] = "load"
    img.load()
    stage[0] = "exif"
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        exif = Image.Exif()
    try:
        orientation = int(exif.get(0x0112, 1) or 1) if exif else 1
    except (TypeError, ValueError):
        orientation = 1
    if orientation not in range(1, 9):
        orientation = 1
    try:
        exif_text = _exif_as_text(exif)
    except Exception:  # noqa: BLE001 - EXIF is kept as evidence only when it can be read
        exif_text = {}
    stage[0] = "convert"
    rgb_img = _to_rgb(img)
    rgb_img = _apply_orientation(rgb_img, orientation)
    if max(rgb_img.size) > max_side:
        rgb_img.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    array = np.asarray(rgb_img, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise ItemError(Code.CORRUPT_IMAGE, f"decoded to an unusable array {array.shape}")

    return DecodedImage(
        format=fmt,
        width=width,
        height=height,
        mode=mode,
        frames=frames,
        orientation=orientation,
        exif=exif_text,
        rgb=array,
        problems=problems,
    )


def decode_bytes_estimate(width: int, height: int, mode: str, fmt: str) -> int:
    """Bytes a decode of a ``width`` x ``height`` ``mode`` image in ``fmt`` holds at its peak."""
    per_pixel = _RASTER_BYTES.get(mode, 4) + _DECODER_BYTES.get(fmt, 0) + _CONVERT_BYTES
    return width * height * per_pixel + _STRIP_BYTES


def _fit_byte_budget(img: Image.Image, fmt: str, max_side: int) -> None:
    """Refuse (or, for JPEG 2000, decode at a lower resolution level) an image over budget."""
    width, height = img.size  # after a JPEG draft: the size that will be decoded
    need = decode_bytes_estimate(width, height, img.mode, fmt)
    if need <= DECODE_BYTE_BUDGET:
        return
    if fmt == "JPEG2000":
        for level in range(1, 6):  # OpenJPEG's default codestreams have 6 resolution levels
            w, h = -(-width // (1 << level)), -(-height // (1 << level))
            if max(w, h) < max_side:
                break
            fits = decode_bytes_estimate(w, h, img.mode, fmt) <= DECODE_BYTE_BUDGET
            if fits and isinstance(img, Jpeg2KImagePlugin.Jpeg2KImageFile):
                img.reduce = level  # decoded at 1/2**level of the stored size
                return
    raise ItemError(
        Code.TOO_LARGE_FOR_ANALYSIS,
        f"{width}x{height} {img.mode} {fmt} needs ~{need / 2**30:.1f} GiB to decode, over the "
        f"{DECODE_BYTE_BUDGET / 2**30:.1f} GiB budget: hashed, not decoded",
    )


def _png_without_text(data: bytes) -> bytes | None:
    """A copy of a PNG without its text chunks (the evidence itself is never changed)."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if ctype not in _PNG_TEXT_CHUNKS:
            out.append(data[pos:end])
        pos = end
        if ctype == b"IEND":
            break
    if pos < len(data) and pos + 12 > len(data):
        out.append(data[pos:])  # a truncated tail stays: the decoder then says so
    return b"".join(out)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB without losing the picture (16-bit, float, CMYK, palette).

    Converted in strips of rows: every step is per pixel (the value range of 32-bit and float
    images is found first), so the result is that of converting the whole picture at once while
    temporaries stay a few MB instead of several times the raster."""
    if img.mode == "RGB":
        return img
    width, height = img.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    if rows >= height:
        return _to_rgb_whole(img, None)
    value_range = _value_range(img) if img.mode in ("I", "F") else None
    out = Image.new("RGB", img.size)
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(height, top + rows)))
        out.paste(_to_rgb_whole(strip, value_range), (0, top))
    return out


def _value_range(img: Image.Image) -> tuple[float, float]:
    lo, hi = img.getextrema()  # one band: (min, max)
    assert isinstance(lo, (int, float)) and isinstance(hi, (int, float))
    return float(lo), float(hi)


def _to_rgb_whole(img: Image.Image, value_range: tuple[float, float] | None) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        elif value_range is not None:
            lo, hi = value_range
        else:
            lo, hi = float(arr.min()), float(arr.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            finite = arr[np.isfinite(arr)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        gray = np.clip(np.nan_to_num((arr - lo) * scale), 0, 255).astype(np.uint8)
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
