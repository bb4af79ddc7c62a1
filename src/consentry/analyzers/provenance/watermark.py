"""Invisible watermarks that open image generators embed: which reference mark, how many bits.

Stable Diffusion's reference scripts (SD 1.x, SD 2.x), Stability's SDXL code, diffusers and Black
Forest Labs' FLUX reference code all embed a fixed message with ``invisible-watermark``'s
``dwtDct`` method (``imwatermark/maxDct.py``, class ``EmbedMaxDct``, default scales ``[0, 36,
36]``, 4x4 blocks). We decode that method here and count how many bits of each reference message
come back.

Why not call ``imwatermark`` itself? Three reasons, recorded so nobody "simplifies" this back:

1. ``import imwatermark`` runs ``imwatermark/__init__.py``, which imports ``rivaGan``, which
   imports **torch** at top level; torch must not enter consentry's install or process.
   (Stability's own ``scripts/demo/detect.py`` works around the same problem.)
2. Its ``pip`` metadata requires ``torch`` and ``opencv-python`` (not the headless build we ship),
   so it cannot be a normal dependency either.
3. Its decoder visits every 4x4 block in a Python loop, once per message length: about 1 s per
   12 MP image *per mark* here. Below, each block's bit is computed once, vectorised, and folded
   for every message length (all 4 marks: ~135 ms at 12 MP, ~17 ms at 1 MP here).

The decode path is small and is reproduced operation for operation: BGR->YUV with OpenCV on
the uint8 image, Haar DWT approximation of the U channel over the area cropped to a multiple of 4
(rows first, then columns, each ``(a*h + b*h)`` with ``h = 0.7071067811865476`` - what
``pywt.dwt2(x, 'haar')`` computes, bit for bit), then per 4x4 block of that band: the
largest-magnitude coefficient other than [0, 0] (first one in row-major order on ties), bit =
``|v| mod 36 > 18``; bit k of an L-bit message is the mean of blocks k, k+L, k+2L, ... (raster
order) scaled by 255 and compared ``> 127``. ``tests/test_provenance_watermark.py`` checks the
result equals ``EmbedMaxDct.decode`` exactly, loading ``maxDct.py`` by file path so the package
``__init__`` (and torch) never runs.

What a result means (Stability's ``scripts/demo/detect.py`` says the same): the watermark code is
public, so anyone can stamp any image; it survives JPEG poorly and resizing or cropping not at all,
so **absence proves nothing**; and it must be decoded at the size it was embedded, which is why
the caller hands us full-resolution pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from math import comb

import numpy as np

# --- the dwtDct method's parameters (imwatermark 0.2.0, maxDct.EmbedMaxDct defaults) ----------
SCALE = 36  # quantisation step for the U channel; Y is not used (scale 0)
BLOCK = 4
_HAAR = 0.7071067811865476  # pywt.Wavelet('haar').dec_lo[0]
# imwatermark refuses images below 256 x 256 pixels ("image too small").
MIN_PIXELS = 256 * 256


class Band(StrEnum):
    """How strongly the decoded bits match a mark (Stability's four detector messages)."""

    VERY_LIKELY = "very_likely"
    LIKELY = "likely"
    PARTIAL = "partial"  # "Partial watermark match. Cannot determine with certainty."
    NONE = "none"


# --- thresholds --------------------------------------------------------------------------------
# Stability AI, generative-models ``scripts/demo/detect.py`` (SDXL, 48 bits): <= 27 matching bits
# "No watermark detected"; 28-33 "Partial watermark match"; 34-35 "Likely watermarked. In our
# test 0.02% of real images were falsely detected"; >= 36 "Very likely watermarked. In our test no
# real images were falsely detected" (their test: 10,000 unmodified images).
SDXL_VERY_LIKELY_FROM = 36
SDXL_LIKELY_FROM = 34
SDXL_PARTIAL_FROM = 28
SDXL_BITS = 48


def _upper_tail(n: int, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): the chance that k of n coin-flip bits match."""
    return sum(comb(n, i) for i in range(k, n + 1)) / 2**n


def band_thresholds(n_bits: int) -> tuple[int, int, int]:
    """(very likely from, likely from, partial from) for an ``n_bits`` mark.

    Nobody published thresholds for the SD 1.x, SD 2.x or FLUX marks. We carry Stability's SDXL
    bands over by their chance-match probability: a band for an n-bit mark starts at the smallest
    count whose probability of arising from random bits is no greater than that of Stability's
    band start for 48 bits. For 48 bits this returns Stability's own 36 / 34 / 28; for 136 bits
    89 / 85 / 75; for 46 bits 35 / 33 / 27; for 32 bits 26 / 25 / 20. Natural photos are not
    exactly coin flips: ``bench/provenance_signals.py`` measures the bands on harmless photos.
    """
    out = []
    for start in (SDXL_VERY_LIKELY_FROM, SDXL_LIKELY_FROM, SDXL_PARTIAL_FROM):
        p = _upper_tail(SDXL_BITS, start)
        out.append(next(k for k in range(n_bits + 1) if _upper_tail(n_bits, k) <= p))
    return out[0], out[1], out[2]


@dataclass(frozen=True)
class WatermarkMark:
    """One reference message and where it comes from."""

    name: str
    generator: str
    bits: tuple[int, ...]
    source: str

    @property
    def thresholds(self) -> tuple[int, int, int]:
        return band_thresholds(len(self.bits))

    def band(self, matched: int) -> Band:
        very_likely, likely, partial = self.thresholds
        if matched >= very_likely:
            return Band.VERY_LIKELY
        if matched >= likely:
            return Band.LIKELY
        if matched >= partial:
            return Band.PARTIAL
        return Band.NONE


def _bytes_bits(message: bytes) -> tuple[int, ...]:
    return tuple(int(b) for b in np.unpackbits(np.frombuffer(message, dtype=np.uint8)))


def _int_bits(message: int) -> tuple[int, ...]:
    # the reference code builds its bit list with bin(x)[2:], which drops leading zeros
    return tuple(int(c) for c in bin(message)[2:])


MARKS: tuple[WatermarkMark, ...] = (
    WatermarkMark(
        "sd1",
        "Stable Diffusion 1.x",
        _bytes_bits(b"StableDiffusionV1"),  # 136 bits
        'CompVis/stable-diffusion scripts/txt2img.py: wm = "StableDiffusionV1", bytes, dwtDct',
    ),
    WatermarkMark(
        "sd2",
        "Stable Diffusion 2.x",
        _bytes_bits(b"SDV2"),  # 32 bits
        'Stability-AI/stablediffusion scripts/txt2img.py: wm = "SDV2", bytes, dwtDct',
    ),
    WatermarkMark(
        "sdxl",
        "Stable Diffusion XL (Stability AI, diffusers)",
        _int_bits(0xB3EC907BB19E),  # 48 bits
        "Stability-AI/generative-models sgm/inference/helpers.py WATERMARK_MESSAGE; "
        "diffusers StableDiffusionXLWatermarker; thresholds from scripts/demo/detect.py",
    ),
    WatermarkMark(
        "flux",
        "FLUX.1 (Black Forest Labs reference code)",
        _int_bits(0x2AFE879CF52E),  # 46 bits: bin() drops the two leading zero bits
        "black-forest-labs/flux WATERMARK_MESSAGE 0b0010101011111110...101110, bits = bin(x)[2:]",
    ),
)


@dataclass(frozen=True)
class WatermarkMatch:
    """How many bits of one reference mark the image's decoded bits agree with."""

    mark: str
    generator: str
    bits: int
    matched: int
    band: Band


def block_bits(rgb: np.ndarray) -> np.ndarray:
    """Each 4x4 block's decoded bit (bool, raster order) for an RGB uint8 image at full size."""
    import cv2  # only here: importing this module must stay cheap

    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.dtype} {image.shape}")
    rows, cols = image.shape[0] // 4 * 4, image.shape[1] // 4 * 4
    # imwatermark takes BGR and converts with COLOR_BGR2YUV; RGB2YUV on RGB is the same
    # conversion (same U plane) without a channel-reversing copy
    u = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV)[:rows, :cols, 1]
    # (a*h + b*h) down the rows, then along the columns; in place to halve peak memory (an
    # 8 MP image would otherwise hold ~170 MB of temporaries), same operations, same bits
    low_rows = u[0::2].astype(np.float64)
    low_rows *= _HAAR
    odd = u[1::2].astype(np.float64)
    odd *= _HAAR
    low_rows += odd
    del u, odd
    approx = low_rows[:, 0::2] * _HAAR
    approx += low_rows[:, 1::2] * _HAAR
    del low_rows
    block_rows, block_cols = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
    blocks = (
        approx[: block_rows * BLOCK, : block_cols * BLOCK]
        .reshape(block_rows, BLOCK, block_cols, BLOCK)
        .transpose(0, 2, 1, 3)
        .reshape(-1, BLOCK * BLOCK)
    )
    magnitudes = np.abs(blocks[:, 1:])
    largest = np.take_along_axis(magnitudes, magnitudes.argmax(axis=1)[:, None], axis=1)[:, 0]
    return np.mod(largest, SCALE) > 0.5 * SCALE


def fold_bits(per_block: np.ndarray, length: int) -> np.ndarray:
    """The ``length``-bit message decoded from per-block bits (as ``EmbedMaxDct.decode``)."""
    if len(per_block) < length:
        raise ValueError(f"{len(per_block)} blocks cannot carry {length} bits")
    index = np.arange(len(per_block)) % length
    sums = np.bincount(index, weights=per_block.astype(np.float64), minlength=length)
    counts = np.bincount(index, minlength=length)
    return (sums / counts) * 255 > 127


def match_marks(
    rgb: np.ndarray, marks: tuple[WatermarkMark, ...] = MARKS
) -> tuple[WatermarkMatch, ...]:
    """Decode ``rgb`` (full size, as stored) against every mark. ValueError if it is too small."""
    height, width = rgb.shape[:2]
    if height * width < MIN_PIXELS:
        raise ValueError(f"{width}x{height} is below the {MIN_PIXELS} pixels dwtDct needs")
    per_block = block_bits(rgb)
    out = []
    for mark in marks:
        decoded = fold_bits(per_block, len(mark.bits))
        matched = int(np.count_nonzero(decoded == np.asarray(mark.bits, dtype=bool)))
        out.append(
            WatermarkMatch(mark.name, mark.generator, len(mark.bits), matched, mark.band(matched))
        )
    return tuple(out)


__all__ = [
    "MARKS",
    "MIN_PIXELS",
    "Band",
    "WatermarkMark",
    "WatermarkMatch",
    "band_thresholds",
    "block_bits",
    "fold_bits",
    "match_marks",
]
