"""PDQ perceptual hash (Meta), as platforms and StopNCII exchange it.

Computed on the decoded image shrunk to fit 512 px, as Meta's reference does: hashing a large
image unshrunk differs by up to 30 bits and is much slower. All 8 rotations/flips are hashed so
that a mirrored or rotated copy still matches (``dihedral[0]`` is the image as displayed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash

NAME = "pdq"
VERSION = "1"

# Meta's conventions (python-threatexchange PdqSignal): match at Hamming distance <= 31,
# and hashes of quality < 50 are too featureless to match on.
MATCH_DISTANCE = 31
MIN_QUALITY = 50


@dataclass(frozen=True)
class PdqFinding:
    hex: str
    quality: int
    dihedral: tuple[str, ...]  # 8 hex hashes: original, rotations and flips


def bits_to_hex(bits: np.ndarray) -> str:
    """256 0/1 values, most significant first, to 64 hex chars (python-threatexchange order)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()


def pdq_of_rgb(rgb: np.ndarray, dihedral: bool = True) -> PdqFinding:
    if dihedral:
        hashes, quality = pdqhash.compute_dihedral(rgb)
        hexes = tuple(bits_to_hex(h) for h in hashes)
        return PdqFinding(hexes[0], int(quality), hexes)
    vector, quality = pdqhash.compute(rgb)
    h = bits_to_hex(vector)
    return PdqFinding(h, int(quality), (h,))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
