"""Shortlist of candidate partners for every picture, from an index of all local descriptors.

All-pairs matching is quadratic (2,000 pictures: two million pairs). Instead every ORB descriptor
of every picture goes into one faiss binary index (inverted lists over k-means cells of the
256-bit codes); each picture's descriptors, plain and mirrored, ask it for their nearest
neighbours, and the pictures those neighbours belong to collect votes. Only the few pictures
with the most votes are verified geometrically (align.py). Two pictures of one scene share many
near-identical descriptors, unrelated pictures few, so the true partner is near the top.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from .features import ImageFeatures

SHORTLIST = 8  # partners verified per picture
NEIGHBOURS = 4  # nearest descriptors asked for each query descriptor
MAX_HAMMING = 64  # of 256 bits: a descriptor farther than this is no vote
MIN_VOTES = 6
QUERY_DESCRIPTORS = 150  # strongest descriptors of each picture used as queries
INDEXED_DESCRIPTORS = 300  # strongest descriptors of each picture in the index


def shortlist(features: Sequence[ImageFeatures]) -> list[tuple[int, int]]:
    """Unordered pairs (i < j) of positions in ``features`` worth verifying."""
    owners, codes = [], []
    for i, f in enumerate(features):
        if len(f.descriptors):
            kept = f.descriptors[:INDEXED_DESCRIPTORS]
            owners.append(np.full(len(kept), i, np.int64))
            codes.append(kept)
    if not codes:
        return []
    owner = np.concatenate(owners)
    database = np.ascontiguousarray(np.concatenate(codes))
    index = _index(database)
    # all queries in one search: faiss pays a large fixed cost per call
    queries, asker = [], []
    for i, f in enumerate(features):
        for q in (f.descriptors[:QUERY_DESCRIPTORS], f.mirror_descriptors[:QUERY_DESCRIPTORS]):
            if len(q):
                queries.append(q)
                asker.append(np.full(len(q), i, np.int64))
    if not queries:
        return []
    distances, ids = index.search(np.ascontiguousarray(np.concatenate(queries)), NEIGHBOURS)
    who = np.concatenate(asker)
    n = len(features)
    rows, cols = np.nonzero((ids >= 0) & (distances <= MAX_HAMMING))
    voter = owner[ids[rows, cols]]
    keep = voter != who[rows]
    # one vote per query descriptor and picture: a repeated texture must not vote many times
    votes_flat = np.unique(rows[keep] * n + voter[keep])
    query_row, partner = votes_flat // n, votes_flat % n
    uniq, counts = np.unique(who[query_row] * n + partner, return_counts=True)
    strong = counts >= MIN_VOTES
    uniq, counts = uniq[strong], counts[strong]
    askers, partners = uniq // n, uniq % n
    order = np.lexsort((-counts, askers))  # by asker, most votes first
    pairs: set[tuple[int, int]] = set()
    taken: dict[int, int] = {}
    for position in order.tolist():
        i, j = int(askers[position]), int(partners[position])
        if taken.get(i, 0) < SHORTLIST:
            taken[i] = taken.get(i, 0) + 1
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _index(database: np.ndarray) -> faiss.IndexBinary:
    n = len(database)
    dim = database.shape[1] * 8
    if n < 20_000:
        flat = faiss.IndexBinaryFlat(dim)
        flat.add(database)
        return flat
    cells = int(min(4096, max(64, np.sqrt(n))))
    quantizer = faiss.IndexBinaryFlat(dim)
    index = faiss.IndexBinaryIVF(quantizer, dim, cells)
    rng = np.random.default_rng(0)
    sample = database[rng.choice(n, size=min(n, cells * 30), replace=False)]
    index.train(sample)
    index.add(database)
    index.nprobe = 4
    return index


__all__ = ["SHORTLIST", "shortlist"]
