"""Visual near-duplicates: distinct images (SHA-256) whose PDQ hashes are within Meta's match
distance, grouped transitively. An inference, not an observation: two different photos of one
scene can be this close, and a heavy edit can push a copy out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from consentry.analyzers.pdq import MATCH_DISTANCE as PDQ_MATCH_DISTANCE
from consentry.analyzers.pdq import MIN_QUALITY as PDQ_MIN_QUALITY
from consentry.store.rows import LocationRow


def visual_groups(rows: Sequence[LocationRow]) -> dict[str, int]:
    """Distinct images within PDQ distance 31 of each other (quality >= 50), as groups
    numbered 1.. in path order; images with no near-duplicate get no group."""
    hashes: dict[str, str] = {}
    for r in rows:
        if r.is_image and r.sha256 and r.pdq and (r.pdq_quality or 0) >= PDQ_MIN_QUALITY:
            hashes.setdefault(r.sha256, r.pdq)
    shas = list(hashes)
    if len(shas) < 2:
        return {}
    bits = np.unpackbits(
        np.frombuffer(b"".join(bytes.fromhex(hashes[s]) for s in shas), np.uint8).reshape(
            len(shas), 32
        ),
        axis=1,
    ).astype(np.float32)
    ones = bits.sum(axis=1)
    parent = list(range(len(shas)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for lo in range(0, len(shas), 1024):
        block = bits[lo : lo + 1024]
        # Hamming distance of 0/1 vectors: |a| + |b| - 2 a.b
        dist = ones[lo : lo + 1024, None] + ones[None, :] - 2 * (block @ bits.T)
        for i, j in zip(*np.nonzero(dist <= PDQ_MATCH_DISTANCE + 0.5), strict=True):
            a, b = find(lo + int(i)), find(int(j))
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[int, list[str]] = defaultdict(list)
    for i, sha in enumerate(shas):
        members[find(i)].append(sha)
    out: dict[str, int] = {}
    number = 0
    for group in members.values():  # first-seen order: rows are in path order
        if len(group) < 2:
            continue
        number += 1
        for sha in group:
            out[sha] = number
    return out


__all__ = ["PDQ_MATCH_DISTANCE", "PDQ_MIN_QUALITY", "visual_groups"]
