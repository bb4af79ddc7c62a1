"""Shortlist of candidate partners for every picture, from an index of all local descriptors.

All-pairs matching is quadratic (2,000 pictures: two million pairs). Instead every ORB descriptor
of every picture goes into one faiss binary index (inverted lists over k-means cells of the
256-bit codes); each picture's descriptors, plain and mirrored, ask it for their nearest
neighbours, and the pictures those neighbours belong to collect votes. Only the few pictures
with the most votes are verified geometrically (align.py). Two pictures of one scene share many
near-identical descriptors, unrelated pictures few, so the true partner is near the top.

A second, smaller round votes with the descriptors *outside* the faces found in each picture.
A face swap replaces the face, where most keypoints of a portrait lie: its face then votes for
the face donor's pictures, and its source collects few votes. What a face swap keeps - hair,
clothes, background - is the evidence of where it came from, so that part gets its own say.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from consentry.records.features import ImageFeatures

if TYPE_CHECKING:
    import faiss

SHORTLIST = 8  # partners verified per picture
NEIGHBOURS = 4  # nearest descriptors asked for each query descriptor
MAX_HAMMING = 64  # of 256 bits: a descriptor farther than this is no vote
MIN_VOTES = 6
QUERY_DESCRIPTORS = 150  # strongest descriptors of each picture used as queries
INDEXED_DESCRIPTORS = 300  # strongest descriptors of each picture in the index
# The round outside faces: fewer partners, fewer votes needed (little is left of a portrait
# outside its face). Faces are grown by FACE_MARGIN of their size on each side (hairline, chin).
# Measured on benchmark seed 2: 18 of 44 face swaps the first round missed were related to
# their source once this round proposed them (bench/derivation.py).
BACKGROUND_SHORTLIST = 4
BACKGROUND_MIN_VOTES = 3
FACE_MARGIN = 0.15

Box = tuple[float, float, float, float]  # x, y, w, h in work pixels
# How the queries ask the index: ``search(index, queries, k) -> (distances, ids)``, row i of
# each for query i. ``local_search`` asks it here; the derivation pass on a cluster hands the
# index to its workers once and asks them in slices (link_pass.py), with the same answers.
Search = Callable[[Any, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def local_search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    distances, ids = index.search(queries, k)
    return distances, ids


def shortlist(
    features: Sequence[ImageFeatures],
    faces: dict[str, list[Box]] | None = None,
    search: Search = local_search,
) -> list[tuple[int, int]]:
    """Unordered pairs (i < j) of positions in ``features`` worth verifying. ``faces``: face
    boxes in work pixels by content SHA-256 (pictures without faces skip the second round).
    ``search``: where the index is asked (here by default)."""
    everything = [(f.points, f.descriptors, f.mirror_points, f.mirror_descriptors)
                  for f in features]  # fmt: skip
    pairs = _vote_round(everything, SHORTLIST, MIN_VOTES, search)
    if faces:
        outside = []
        for f in features:
            boxes = faces.get(f.sha256, [])
            if not boxes:  # nothing to leave out: the first round asked with all of it
                outside.append((f.points[:0], f.descriptors[:0], f.points[:0], f.descriptors[:0]))
                continue
            keep = _outside(f.points, boxes)
            keep_mirror = _outside(f.mirror_points, boxes)
            plain = (f.points[keep], f.descriptors[keep])
            mirror = (f.mirror_points[keep_mirror], f.mirror_descriptors[keep_mirror])
            outside.append((*plain, *mirror))
        pairs |= _vote_round(outside, BACKGROUND_SHORTLIST, BACKGROUND_MIN_VOTES, search)
    return sorted(pairs)


def _outside(points: np.ndarray, boxes: list[Box]) -> np.ndarray:
    keep = np.ones(len(points), bool)
    for x, y, w, h in boxes:
        x0, y0 = x - FACE_MARGIN * w, y - FACE_MARGIN * h
        x1, y1 = x + (1 + FACE_MARGIN) * w, y + (1 + FACE_MARGIN) * h
        inside = (points[:, 0] >= x0) & (points[:, 0] <= x1)
        keep &= ~(inside & (points[:, 1] >= y0) & (points[:, 1] <= y1))
    return keep


def _vote_round(
    per_picture: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    partners_each: int,
    min_votes: int,
    search: Search = local_search,
) -> set[tuple[int, int]]:
    owners, codes = [], []
    for i, (_, descriptors, _, _) in enumerate(per_picture):
        if len(descriptors):
            kept = descriptors[:INDEXED_DESCRIPTORS]
            owners.append(np.full(len(kept), i, np.int64))
            codes.append(kept)
    if not codes:
        return set()
    owner = np.concatenate(owners)
    database = np.ascontiguousarray(np.concatenate(codes))
    index = _index(database)
    # all queries in one search: faiss pays a large fixed cost per call
    queries, asker = [], []
    for i, (_, descriptors, _, mirror_descriptors) in enumerate(per_picture):
        for q in (descriptors[:QUERY_DESCRIPTORS], mirror_descriptors[:QUERY_DESCRIPTORS]):
            if len(q):
                queries.append(q)
                asker.append(np.full(len(q), i, np.int64))
    if not queries:
        return set()
    distances, ids = search(index, np.ascontiguousarray(np.concatenate(queries)), NEIGHBOURS)
    who = np.concatenate(asker)
    n = len(per_picture)
    rows, cols = np.nonzero((ids >= 0) & (distances <= MAX_HAMMING))
    voter = owner[ids[rows, cols]]
    keep = voter != who[rows]
    # one vote per query descriptor and picture: a repeated texture must not vote many times
    votes_flat = np.unique(rows[keep] * n + voter[keep])
    query_row, partner = votes_flat // n, votes_flat % n
    uniq, counts = np.unique(who[query_row] * n + partner, return_counts=True)
    strong = counts >= min_votes
    uniq, counts = uniq[strong], counts[strong]
    askers, partners = uniq // n, uniq % n
    order = np.lexsort((-counts, askers))  # by asker, most votes first
    pairs: set[tuple[int, int]] = set()
    taken: dict[int, int] = {}
    for position in order.tolist():
        i, j = int(askers[position]), int(partners[position])
        if taken.get(i, 0) < partners_each:
            taken[i] = taken.get(i, 0) + 1
            pairs.add((min(i, j), max(i, j)))
    return pairs


def _index(database: np.ndarray) -> faiss.IndexBinary:
    import faiss  # here, not at the top: ~100 ms that only the derivation pass needs

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
    sample = database[rng.choice(n, size=min(n, cells * 40), replace=False)]
    index.train(sample)
    index.add(database)
    index.nprobe = 4
    return index


# -- the index on other workers: handed over once (their WorkerInit), asked in slices ----------
_worker_index: Any = None


def index_blob(index: Any) -> bytes:
    """The index as bytes for ``start_search_worker`` (faiss keeps its kind and nprobe). Bytes,
    not an array: a ``WorkerInit`` is compared with the last one, and bytes compare as one."""
    import faiss

    return bytes(faiss.serialize_index_binary(index))


def start_search_worker(blob: bytes) -> None:
    """A worker's set-up for the search step: the index, rebuilt from its bytes once."""
    import faiss

    global _worker_index
    _worker_index = faiss.deserialize_index_binary(np.frombuffer(blob, dtype=np.uint8))


def search_slice(task: tuple[int, np.ndarray, int]) -> tuple[int, np.ndarray, np.ndarray]:
    """One slice of the queries, asked of this worker's index: (offset, distances, ids)."""
    offset, queries, k = task
    assert _worker_index is not None, "search_slice runs in a worker set up by start_search_worker"
    distances, ids = _worker_index.search(queries, k)
    return offset, distances, ids


__all__ = [
    "SHORTLIST",
    "Search",
    "index_blob",
    "local_search",
    "search_slice",
    "shortlist",
    "start_search_worker",
]
