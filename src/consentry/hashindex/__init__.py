"""Near-duplicate search over 256-bit PDQ hashes: the matching service's index.

The contract (``PdqIndex``) is fixed here; ``reference.py`` is the brute-force oracle that the
fast index is tested against (recall 1.0 at every threshold up to ``MAX_THRESHOLD``).

- Hashes are ``np.ndarray`` of shape ``(n, 32)``, dtype ``uint8`` (the 64-hex PDQ string's
  bytes, most significant first: ``bytes.fromhex(hex)``). ``hex_to_rows`` converts.
- Ids are ``int64`` chosen by the caller (the service uses ``signals.id``); an id is unique in
  the index: ``add`` of an id already present replaces its hash.
- ``search`` answers every stored hash within ``threshold`` bits of each query, exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HASH_BYTES = 32
MAX_THRESHOLD = 31  # Meta's PDQ match distance; the index guarantees exact answers up to it


@dataclass(frozen=True)
class SearchHits:
    """Flat hits of a batch: ``query[i]`` (row in the batch), ``ids[i]``, ``distances[i]``;
    sorted by query, then distance, then id."""

    query: np.ndarray  # int64
    ids: np.ndarray  # int64
    distances: np.ndarray  # int32

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def hex_to_rows(hexes: list[str]) -> np.ndarray:
    """64-hex PDQ strings (already validated) to an ``(n, 32)`` uint8 array."""
    if not hexes:
        return np.zeros((0, HASH_BYTES), np.uint8)
    return np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, HASH_BYTES).copy()


def rows_to_hex(rows: np.ndarray) -> list[str]:
    return [bytes(r).hex() for r in np.asarray(rows, np.uint8).reshape(-1, HASH_BYTES)]


from consentry.hashindex.index import PdqIndex  # noqa: E402

__all__ = ["HASH_BYTES", "MAX_THRESHOLD", "PdqIndex", "SearchHits", "hex_to_rows", "rows_to_hex"]
