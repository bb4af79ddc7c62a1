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


# The 8 orientations of a picture: as displayed, rotated 90/180/270 degrees counter-clockwise,
# mirrored left-right, flipped top-bottom, and the two diagonal reflections.
_DIHEDRAL = (
    lambda a: a,
    lambda a: np.rot90(a, 1),
    lambda a: np.rot90(a, 2),
    lambda a: np.rot90(a, 3),
    lambda a: a[:, ::-1],
    lambda a: a[::-1, :],
    lambda a: np.rot90(a, 1)[::-1, :],
    lambda a: np.rot90(a, 1)[:, ::-1],
)


def pdq_of_rgb(rgb: np.ndarray, dihedral: bool = True) -> PdqFinding:
    """PDQ of ``rgb`` and, with ``dihedral``, of its 8 rotations/flips.

    Why not ``pdqhash.compute_dihedral``: it derives the variants from one DCT, which differs
    from hashing the transformed picture by 16 bits (median) to 42 bits (max) on the shared real
    photos, so 5% of flipped or rotated copies fell outside the match distance of 31. Hashing
    each transformed picture costs ~8x more PDQ time (~20 ms per image) and matches exactly.
    """
    vector, quality = pdqhash.compute(rgb)
    first = bits_to_hex(vector)
    if not dihedral:
        return PdqFinding(first, int(quality), (first,))
    hexes = [first]
    for transform in _DIHEDRAL[1:]:
        v, _ = pdqhash.compute(np.ascontiguousarray(transform(rgb)))
        hexes.append(bits_to_hex(v))
    return PdqFinding(first, int(quality), tuple(hexes))


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
