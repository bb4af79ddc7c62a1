"""Group faces of unknown people: average-linkage agglomeration that never renumbers.

Why average linkage? Single linkage (join whenever any two faces are similar) chains different
people together through one look-alike pair; complete linkage splits one person photographed in
different light. Average linkage joins two groups when their faces are, on average, as similar
as one person's faces are. With unit-length embeddings the average cosine similarity of two
groups is ``dot(sum_a, sum_b) / (|a| * |b|)``, so it is exact and costs one dot product however
large the groups are.

Candidate joins come from each new face's ``KNN`` most similar faces at or above the threshold
(a group can only reach an average >= T if some pair is >= T, so nothing else could join; the
cap keeps memory linear when one person fills thousands of images).

Stability across re-runs: groups that already carry a number (``existing`` labels) are kept as
they are: new faces may join them, but two numbered groups are never joined and no face leaves
its group. Only the examiner merges or splits numbered groups (``person merge`` / ``split``).
Faces are expected in a fixed order (the caller sorts by SHA-256 and face index), which makes
the result deterministic: the same faces give the same groups, however the scan was interrupted.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

# Average cosine similarity at which two groups are one person. The pairwise "match" threshold
# (analyzers.faces.MATCH_SIMILARITY = 0.46, FAR 0.1 % per pair on the calibration identities of
# bench/face_verification.py) is used unchanged; bench/victim_count.py measures the resulting
# B-cubed precision/recall on identities that never chose it.
LINKAGE_SIMILARITY = 0.46
KNN = 40
BLOCK = 1024
# Sub-clusters (persons report, upper bound and review flags only; groups are never split here):
# a group's faces re-clustered with the same average linkage at this stricter similarity. Chosen
# on the calibration split of bench/victim_count.py (seeds 1, 20, 21, 22; re-shared copies on):
# the highest value of the grid 0.50/0.55/0.60/0.65/0.70 at which no group holding one person's
# faces split into two sub-clusters of >= 2 images each (at 0.60 four did: one LFW and three ORL
# identities), while the two groups that merged two synthetic look-alikes split at every value.
SUBCLUSTER_SIMILARITY = 0.55
# A group of more faces is re-clustered on this many of them (speed: 2,000 faces took ~2 s).
SUBCLUSTER_SAMPLE = 400


@dataclass(frozen=True)
class Clustering:
    """``labels[i]`` is an existing label (>= 0) or, for a new group, ``-1 - k`` where k numbers
    the new groups largest first (ties: the group whose first face comes first)."""

    labels: np.ndarray  # (n,) int64
    new_groups: int


def cluster_faces(
    embeddings: np.ndarray,
    existing: np.ndarray | None = None,
    threshold: float = LINKAGE_SIMILARITY,
    knn: int = KNN,
) -> Clustering:
    """Cluster unit-length ``embeddings`` (n x d), keeping ``existing`` labels (-1 = new face)."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(x)
    existing = np.full(n, -1, dtype=np.int64) if existing is None else np.asarray(existing)
    new = np.flatnonzero(existing < 0)
    if len(new) == 0:
        return Clustering(existing.astype(np.int64).copy(), 0)

    # nodes: one per existing label (frozen), one per new face
    old_labels = np.unique(existing[existing >= 0])
    node_of_face = np.empty(n, dtype=np.int64)
    node_of_face[existing >= 0] = np.searchsorted(old_labels, existing[existing >= 0])
    node_of_face[new] = len(old_labels) + np.arange(len(new))
    nodes = len(old_labels) + len(new)
    sums = np.zeros((nodes, x.shape[1]), dtype=np.float64)
    np.add.at(sums, node_of_face, x.astype(np.float64))
    sizes = np.bincount(node_of_face, minlength=nodes).astype(np.float64)
    frozen = np.zeros(nodes, dtype=bool)
    frozen[: len(old_labels)] = True

    neighbours: list[set[int]] = [set() for _ in range(nodes)]
    for a, b in _candidate_pairs(x, new, node_of_face, threshold, knn):
        if a != b and not (frozen[a] and frozen[b]):
            neighbours[a].add(b)
            neighbours[b].add(a)

    # Each live node keeps its best neighbour; the heap holds one entry per node. Joining a and
    # b cannot raise any third node's best link (the average with a+b lies between its links to
    # a and to b), so only nodes whose best was a or b need a new look.
    parent = np.arange(nodes, dtype=np.int64)
    best = np.full(nodes, -1, dtype=np.int64)
    best_link = np.full(nodes, -np.inf)
    version = np.zeros(nodes, dtype=np.int64)
    heap: list[tuple[float, int, int]] = []

    def refresh_best(a: int) -> None:
        version[a] += 1
        best[a], best_link[a] = -1, -np.inf
        if not neighbours[a]:
            return
        idx = np.fromiter(neighbours[a], dtype=np.int64, count=len(neighbours[a]))
        links = (sums[idx] @ sums[a]) / (sizes[idx] * sizes[a])
        if frozen[a]:
            links[frozen[idx]] = -np.inf
        top = links.max()
        if top < threshold:
            return
        best[a] = int(idx[links == top].min())  # ties: the lower node, for determinism
        best_link[a] = float(top)
        heapq.heappush(heap, (-float(top), a, int(version[a])))

    for a in range(nodes):
        refresh_best(a)

    while heap:
        _, a, va = heapq.heappop(heap)
        if version[a] != va or parent[a] != a:
            continue  # stale: a changed or was absorbed since this entry was pushed
        b = int(best[a])
        # the survivor keeps its number: a frozen node, else the lower index
        keep, gone = (b, a) if frozen[b] and not frozen[a] else (min(a, b), max(a, b))
        parent[gone] = keep
        sums[keep] += sums[gone]
        sizes[keep] += sizes[gone]
        frozen[keep] = frozen[keep] or frozen[gone]
        merged = (neighbours[keep] | neighbours[gone]) - {keep, gone}
        neighbours[gone] = set()
        version[gone] += 1
        stale = []
        for c in merged:
            neighbours[c].discard(gone)
            neighbours[c].add(keep)
            if best[c] == keep or best[c] == gone:
                stale.append(c)
        neighbours[keep] = merged
        refresh_best(keep)
        for c in sorted(stale):
            refresh_best(c)

    root = parent.copy()
    for i in range(nodes):  # path compression; parents always point to live survivors
        r = i
        while root[r] != r:
            r = root[r]
        root[i] = r
    face_root = root[node_of_face]
    labels = np.empty(n, dtype=np.int64)
    is_old_root = face_root < len(old_labels)
    labels[is_old_root] = old_labels[face_root[is_old_root]]
    new_faces = np.flatnonzero(~is_old_root)
    roots, first, counts = np.unique(face_root[new_faces], return_index=True, return_counts=True)
    # number new groups largest first, then by their first face (input order)
    ordered = sorted(range(len(roots)), key=lambda k: (-int(counts[k]), int(first[k])))
    rank = np.empty(len(roots), dtype=np.int64)
    rank[np.asarray(ordered, dtype=np.int64)] = np.arange(len(roots))
    labels[new_faces] = -1 - rank[np.searchsorted(roots, face_root[new_faces])]
    return Clustering(labels, len(roots))


def subclusters(
    embeddings: np.ndarray,
    threshold: float = SUBCLUSTER_SIMILARITY,
    sample: int = SUBCLUSTER_SAMPLE,
) -> np.ndarray:
    """Labels 0..k-1 (largest sub-cluster first) of one group's faces re-clustered at the
    stricter ``threshold``: where a group that may hold several look-alike persons splits.
    A group of more than ``sample`` faces is re-clustered on ``sample`` faces evenly spread
    over its (fixed) order, and every face then joins the sub-cluster whose centre it is most
    similar to: the cost stays that of ``sample`` faces however large the group."""
    x = np.asarray(embeddings, dtype=np.float32)
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(x) <= sample:
        return (-1 - cluster_faces(x, threshold=threshold).labels).astype(np.int64)
    picked = np.unique(np.linspace(0, len(x) - 1, sample).round().astype(np.int64))
    labels = -1 - cluster_faces(x[picked], threshold=threshold).labels
    centres = np.zeros((int(labels.max()) + 1, x.shape[1]), dtype=np.float64)
    np.add.at(centres, labels, x[picked].astype(np.float64))
    centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
    nearest = np.empty(len(x), dtype=np.int64)
    for lo in range(0, len(x), BLOCK):
        nearest[lo : lo + BLOCK] = (x[lo : lo + BLOCK] @ centres.T.astype(np.float32)).argmax(1)
    # renumber largest first (ties: the lower label), as for a group re-clustered whole
    counts = np.bincount(nearest, minlength=len(centres))
    order = sorted(range(len(centres)), key=lambda k: (-int(counts[k]), k))
    rank = np.empty(len(centres), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(centres))
    return rank[nearest]


def linked_groups(
    sums: np.ndarray, sizes: np.ndarray, threshold: float
) -> list[tuple[int, int, float]]:
    """Pairs of groups (i < j) whose average-linkage similarity, the measure the clustering joins
    on, is >= ``threshold``; from each group's sum of unit embeddings (``sums``, g x d) and face
    count (``sizes``). Computed in blocks, so memory stays linear in the number of groups."""
    sums = np.asarray(sums, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    out: list[tuple[int, int, float]] = []
    for lo in range(0, len(sums), BLOCK):
        links = (sums[lo : lo + BLOCK] @ sums.T) / np.outer(sizes[lo : lo + BLOCK], sizes)
        r, c = np.nonzero(links >= threshold)
        for i, j in zip((r + lo).tolist(), c.tolist(), strict=True):
            if i < j:
                out.append((i, j, float(links[i - lo, j])))
    return out


def _candidate_pairs(
    x: np.ndarray, new: np.ndarray, node_of_face: np.ndarray, threshold: float, knn: int
) -> list[tuple[int, int]]:
    """Node pairs linked by a new face and one of its ``knn`` most similar faces (>= threshold)."""
    pairs: list[tuple[int, int]] = []
    n = len(x)
    k = min(knn + 1, n)  # +1: a face is its own nearest neighbour
    for lo in range(0, len(new), BLOCK):
        rows = new[lo : lo + BLOCK]
        sims = x[rows] @ x.T  # (b, n)
        sims[np.arange(len(rows)), rows] = -np.inf  # not itself
        if k < n:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(n), (len(rows), n))
        top_sims = np.take_along_axis(sims, top, axis=1)
        r, c = np.nonzero(top_sims >= threshold)
        a = node_of_face[rows[r]]
        b = node_of_face[top[r, c]]
        pairs.extend(zip(a.tolist(), b.tolist(), strict=True))
    return pairs


__all__ = [
    "KNN",
    "LINKAGE_SIMILARITY",
    "SUBCLUSTER_SAMPLE",
    "SUBCLUSTER_SIMILARITY",
    "Clustering",
    "cluster_faces",
    "linked_groups",
    "subclusters",
]
