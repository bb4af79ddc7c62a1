"""Brute force: every query against every stored hash. The oracle for the fast index's tests
and the benchmark's recall column; too slow to serve (10M hashes: ~15 ms per query)."""

from __future__ import annotations

import numpy as np

from consentry.hashindex import SearchHits


def brute_force(
    stored_ids: np.ndarray, stored: np.ndarray, queries: np.ndarray, threshold: int
) -> SearchHits:
    stored64 = np.ascontiguousarray(stored, np.uint8).view(np.uint64).reshape(-1, 4)
    q64 = np.ascontiguousarray(queries, np.uint8).view(np.uint64).reshape(-1, 4)
    qs, ids, ds = [], [], []
    for qi in range(q64.shape[0]):
        d = np.bitwise_count(stored64 ^ q64[qi]).sum(axis=1, dtype=np.int32)
        hit = np.nonzero(d <= threshold)[0]
        qs.append(np.full(hit.shape[0], qi, np.int64))
        ids.append(np.asarray(stored_ids, np.int64)[hit])
        ds.append(d[hit].astype(np.int32))
    if not qs:
        empty = np.zeros(0, np.int64)
        return SearchHits(empty, empty.copy(), np.zeros(0, np.int32))
    q, i, d = np.concatenate(qs), np.concatenate(ids), np.concatenate(ds)
    order = np.lexsort((i, d, q))
    return SearchHits(q[order], i[order], d[order])
