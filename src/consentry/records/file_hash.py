"""SHA-256 of a file's bytes, read in chunks: the one way consentry hashes a whole file
(sources re-verified, model files, written reports, hash packs, notices).

At the bottom layer so that every layer hashes files the same way. Opening is the caller's
business where it matters: evidence is opened read-only by ``media.reader.open_readonly`` and
passed here as a stream.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def sha256_of_stream(fh: BinaryIO) -> str:
    """SHA-256 (hex) of everything left to read in ``fh``."""
    h = hashlib.sha256()
    for chunk in iter(lambda: fh.read(CHUNK), b""):
        h.update(chunk)
    return h.hexdigest()


def sha256_of_file(path: str | bytes | Path) -> str:
    """SHA-256 (hex) of a file the case or the examiner owns (not evidence: see module doc)."""
    with open(path, "rb") as fh:
        return sha256_of_stream(fh)


__all__ = ["sha256_of_file", "sha256_of_stream"]
