"""SHA-256, MD5 and SHA-1 of a file's bytes: exact identity, as courts and hash sets use it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

NAME = "crypto_hashes"
VERSION = "1"


@dataclass(frozen=True)
class CryptoHashes:
    sha256: str
    md5: str
    sha1: str
    size: int


def hash_chunks(chunks: Iterable[bytes]) -> CryptoHashes:
    """Hash a stream in one pass (large files never need to sit in memory)."""
    sha256, md5, sha1 = (
        hashlib.sha256(),
        hashlib.md5(usedforsecurity=False),
        hashlib.sha1(usedforsecurity=False),
    )
    size = 0
    for chunk in chunks:
        sha256.update(chunk)
        md5.update(chunk)
        sha1.update(chunk)
        size += len(chunk)
    return CryptoHashes(sha256.hexdigest(), md5.hexdigest(), sha1.hexdigest(), size)


def hash_bytes(data: bytes) -> CryptoHashes:
    return hash_chunks([data])
