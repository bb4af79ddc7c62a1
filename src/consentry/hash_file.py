"""Hash one file the way a scan does, without a case (``consentry hash``)."""

from __future__ import annotations

from dataclasses import dataclass

from .analyzers import crypto_hashes, pdq
from .imaging import ANALYSIS_SIDE, decode_image
from .problems import Code, ItemError, Problem
from .reader import open_readonly, read_all


@dataclass
class FileHashes:
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    error: Problem | None = None


def hash_file(raw_path: bytes) -> FileHashes:
    try:
        with open_readonly(raw_path) as fh:
            data = read_all(fh)
    except ItemError as exc:
        return FileHashes(error=exc.problem())
    except IsADirectoryError:
        return FileHashes(error=Problem(Code.NOT_REGULAR_FILE, "is a folder"))
    hashes = crypto_hashes.hash_bytes(data)
    result = FileHashes(sha256=hashes.sha256, md5=hashes.md5)
    if not data:
        result.error = Problem(Code.EMPTY_FILE, "file is empty (0 bytes)")
        return result
    try:
        image = decode_image(data, ANALYSIS_SIDE)
    except ItemError as exc:
        result.error = exc.problem()
        return result
    finding = pdq.pdq_of_rgb(image.rgb, dihedral=False)
    result.pdq, result.pdq_quality = finding.hex, finding.quality
    return result
