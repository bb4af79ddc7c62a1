"""The PDQ index (contract; the part-1 engineer replaces this brute-force placeholder with the
multi-index-hashing implementation described in docs/service-contract.md)."""

from __future__ import annotations

import numpy as np

from consentry.hashindex import MAX_THRESHOLD, SearchHits


class PdqIndex:
    """Exact Hamming-radius search over PDQ hashes, updated in place.

    ``add`` / ``remove`` are visible to the next ``search``; no call ever holds two full
    copies of the index. Thread-safety: one writer or many readers (the service holds a lock).
    """

    def __init__(self) -> None:
        self._ids = np.zeros(0, np.int64)
        self._rows = np.zeros((0, 32), np.uint8)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def add(self, ids: np.ndarray, rows: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        rows = np.asarray(rows, np.uint8).reshape(-1, 32)
        keep = ~np.isin(self._ids, ids)
        self._ids = np.concatenate([self._ids[keep], ids])
        self._rows = np.concatenate([self._rows[keep], rows])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self._ids, np.asarray(ids, np.int64))
        self._ids, self._rows = self._ids[keep], self._rows[keep]

    def search(self, queries: np.ndarray, threshold: int = MAX_THRESHOLD) -> SearchHits:
        from consentry.hashindex.reference import brute_force

        if not 0 <= threshold <= MAX_THRESHOLD:
            raise ValueError(f"threshold must be 0..{MAX_THRESHOLD}, not {threshold}")
        return brute_force(self._ids, self._rows, np.asarray(queries, np.uint8), threshold)

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays (for /m/index/status and the benchmark)."""
        return int(self._ids.nbytes + self._rows.nbytes)
