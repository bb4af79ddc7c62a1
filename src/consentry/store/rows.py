"""Typed rows the case store hands to its readers (reports, notices), so no reader runs its own
SQL or reads a row by key: the store's tables stay the store's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LocationRow:
    """One location (a file on disk or an archive member) with its content's hashes and
    metadata; the content fields are None when the location was never read."""

    id: int
    parent_id: int | None
    source_id: int
    path: str  # as found, archive members as a.zip!/inner/x.jpg
    rel_path: str  # relative to the source root
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    member_chain: str  # JSON list of archive member names; "[]" on disk
    md5: str | None
    sha1: str | None
    mime: str | None
    width: int | None
    height: int | None
    pdq: str | None
    pdq_quality: int | None
    is_image: bool

    @property
    def in_archive(self) -> bool:
        return self.member_chain not in ("[]", "")


@dataclass(frozen=True)
class FindingRow:
    """An analyzer's result on one content (``payload``, its evidence, is read separately)."""

    sha256: str
    analyzer: str
    analyzer_version: str
    model_sha256: str | None  # comma-separated when the analyzer used several models
    status: str
    label: str | None
    score: float | None


@dataclass(frozen=True)
class SourceRow:
    """A source given to a scan, with the locations found in it (archive members included)."""

    id: int
    path: str
    kind: str  # folder | file
    files: int


@dataclass(frozen=True)
class ScanRow:
    id: int
    started_at: str
    finished_at: str | None
    status: str  # running | completed | failed | interrupted
    examiner: str | None
    host: str
    timezone: str
    tool_version: str
    sources: tuple[str, ...]  # the source paths as given to the scan


@dataclass(frozen=True)
class ProblemCodes:
    """Problem codes recorded per location id and per content SHA-256."""

    by_location: Mapping[int, frozenset[str]]
    by_content: Mapping[str, frozenset[str]]

    def of(self, location_id: int, sha256: str | None) -> frozenset[str]:
        """The codes of a location and of the content found there."""
        return self.by_location.get(location_id, frozenset()) | self.by_content.get(
            sha256 or "", frozenset()
        )


__all__ = ["FindingRow", "LocationRow", "ProblemCodes", "ScanRow", "SourceRow"]
