"""Text hidden in pixel least-significant bits, and the generator record inside it.

NovelAI writes its metadata gzip-compressed into the alpha channel's LSBs behind the magic
``stealth_pngcomp``; the ``stealth_pnginfo`` extension for AUTOMATIC1111 writes ``stealth_pnginfo``
(plain) or ``stealth_rgbinfo``/``stealth_rgbcomp`` (in the R, G, B LSBs). Layout (NovelAI's
published ``nai_meta.py`` and the extension agree): pixels in column-major order (x outer, y
inner), one bit per pixel (three for RGB), most significant bit first; 15-byte magic, a 32-bit
big-endian payload length *in bits*, then the payload. Survives only lossless saving. The payload
kept is bounded like a PNG text chunk (``containers.MAX_CHUNK_TEXT``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from consentry.analyzers.provenance.containers import MAX_CHUNK_TEXT, inflate
from consentry.analyzers.provenance.fields import json_object
from consentry.analyzers.provenance.generators.automatic1111 import parse_a1111
from consentry.analyzers.provenance.generators.base import GeneratorMetadata
from consentry.analyzers.provenance.generators.novelai import parse_novelai

STEALTH_MAGICS = {
    # magic: (channel mode, gzip-compressed)
    "stealth_pnginfo": ("alpha", False),
    "stealth_pngcomp": ("alpha", True),
    "stealth_rgbinfo": ("rgb", False),
    "stealth_rgbcomp": ("rgb", True),
}
_MAGIC_BITS = 15 * 8


@dataclass(frozen=True)
class StealthText:
    """Text hidden in pixel LSBs (NovelAI / stealth_pnginfo)."""

    magic: str
    mode: str  # alpha | rgb
    compressed: bool
    text: str
    truncated: bool = False


def read_stealth(pixels: np.ndarray) -> StealthText | None:
    """Stealth text in an HxWx4 (alpha modes) or HxWx3 (RGB modes) uint8 array, or None."""
    image = np.asarray(pixels)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        return None
    height, width = image.shape[:2]
    modes = ["alpha", "rgb"] if image.shape[2] == 4 else ["rgb"]
    for mode in modes:
        per_pixel = 1 if mode == "alpha" else 3

        def bits(n_bits: int, mode: str = mode, per_pixel: int = per_pixel) -> np.ndarray:
            # column-major: only the first ceil(n / (H * bits per pixel)) columns are read
            columns = min(width, -(-n_bits // (height * per_pixel)))
            part = image[:, :columns, 3:4] if mode == "alpha" else image[:, :columns, :3]
            return part.transpose(1, 0, 2).reshape(-1)[:n_bits] & 1

        head = bits(_MAGIC_BITS + 32)
        if len(head) < _MAGIC_BITS + 32:
            continue
        magic = np.packbits(head[:_MAGIC_BITS]).tobytes().decode("latin-1")
        if STEALTH_MAGICS.get(magic, ("", False))[0] != mode:
            continue
        compressed = STEALTH_MAGICS[magic][1]
        n_bits = int.from_bytes(np.packbits(head[_MAGIC_BITS:]).tobytes(), "big")
        limit = MAX_CHUNK_TEXT * 8
        stream = bits(_MAGIC_BITS + 32 + min(n_bits, limit))[_MAGIC_BITS + 32 :]
        payload = np.packbits(stream[: len(stream) // 8 * 8]).tobytes()
        truncated = n_bits > len(stream)
        try:
            raw = inflate(payload, gzip=True) if compressed else payload
        except zlib.error:
            return StealthText(magic, mode, compressed, "", truncated=True)
        return StealthText(
            magic, mode, compressed, raw.decode("utf-8", "replace"), truncated=truncated
        )
    return None


def stealth_generator(stealth: StealthText, problems: list[str]) -> GeneratorMetadata | None:
    """The generator record inside stealth text: NovelAI's JSON, or AUTOMATIC1111 infotext."""
    source = f"pixels:{stealth.magic}"
    data = json_object(stealth.text)
    if data is not None:
        record = parse_novelai(data, source, problems)
        if record is None:
            problems.append(f"{source}: JSON in an unknown layout")
        return record
    record = parse_a1111(stealth.text, source)
    if record is None:
        problems.append(f"{source}: text in an unknown layout")
    return record
