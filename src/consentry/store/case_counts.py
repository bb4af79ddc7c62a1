"""What ``CaseStore.counts`` measures about a case, as typed values.

The counts cross from the store to the scan (its summary), the CLI (``case summary``) and the
reports, so they are one frozen value read by attribute, not a dict read by key in each place.
Per-analyzer counts are a mapping keyed by analyzer name, built from the count rule each
analyzer declares (``records.analyzer_counts``), so an analyzer added to the scan adds an entry
rather than a field. ``as_dict`` is the JSON shape the case format has always had
(``case summary --json`` and the scan summary stored in the case): same keys, same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


class AnalyzerCounts(Protocol):
    """One analyzer's counts; ``as_dict`` is its block in the case summary's JSON."""

    def as_dict(self) -> dict[str, Any]: ...


A = TypeVar("A", bound=AnalyzerCounts)


@dataclass(frozen=True)
class LabelCount:
    """Image files (locations) given one label, and their distinct contents."""

    files: int
    unique_images: int

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "unique_images": self.unique_images}


def _labels_dict(labels: Mapping[str, LabelCount]) -> dict[str, dict[str, int]]:
    return {label: c.as_dict() for label, c in labels.items()}


@dataclass(frozen=True)
class FindingLabelCounts:
    """Image files per label of one analyzer's findings, under the keys the analyzer's count
    rule names (``records.analyzer_counts.FindingCounts``: e.g. explicit_images)."""

    named: Mapping[str, int]  # rule key -> image files with that label, in the rule's order
    by_label: Mapping[str, LabelCount]
    images_not_analysed: int
    by_label_key: str = "by_label"  # the block's key for by_label (provenance: by_verdict)

    def __getitem__(self, key: str) -> int:
        return self.named[key]

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.named,
            self.by_label_key: _labels_dict(self.by_label),
            "images_not_analysed": self.images_not_analysed,
        }


@dataclass(frozen=True)
class FaceCounts:
    faces: int
    usable_faces: int
    unique_images_with_faces: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "faces": self.faces,
            "usable_faces": self.usable_faces,
            "unique_images_with_faces": self.unique_images_with_faces,
        }


@dataclass(frozen=True)
class ThumbnailCounts:
    written: int
    blurred: int

    def as_dict(self) -> dict[str, int]:
        return {"written": self.written, "blurred": self.blurred}


@dataclass(frozen=True)
class ProblemCounts:
    """Files with a problem of one severity: in all, and per stable code (sorted by code)."""

    total: int
    by_code: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_code": dict(self.by_code)}


@dataclass(frozen=True)
class CaseCounts:
    files: int  # every location, on disk or inside an archive
    files_on_disk: int
    archive_members: int
    archives_opened: int
    images: int
    unique_contents: int
    unique_images: int
    duplicate_locations: int  # files whose bytes were also found elsewhere
    unreadable: int  # read and failed (no hash, not pending)
    pending: int  # found, not yet analysed
    analyzers: Mapping[str, AnalyzerCounts]  # per analyzer name, in the summary's order
    thumbnails: ThumbnailCounts
    errors: ProblemCounts
    warnings: ProblemCounts

    def analyzer(self, name: str, kind: type[A]) -> A:
        """The counts of analyzer ``name``, typed as ``kind`` (a mismatch is a bug here)."""
        counts = self.analyzers[name]
        if not isinstance(counts, kind):
            raise TypeError(f"counts of {name!r} are {type(counts).__name__}, not {kind.__name__}")
        return counts

    @property
    def explicit(self) -> FindingLabelCounts:
        return self.analyzer("explicit", FindingLabelCounts)

    @property
    def provenance(self) -> FindingLabelCounts:
        return self.analyzer("provenance", FindingLabelCounts)

    @property
    def faces(self) -> FaceCounts:
        return self.analyzer("faces", FaceCounts)

    def as_dict(self) -> dict[str, Any]:
        """The case summary's JSON: the keys and order ``case summary --json`` has always had."""
        return {
            "files": self.files,
            "files_on_disk": self.files_on_disk,
            "archive_members": self.archive_members,
            "archives_opened": self.archives_opened,
            "images": self.images,
            "unique_contents": self.unique_contents,
            "unique_images": self.unique_images,
            "duplicate_locations": self.duplicate_locations,
            "unreadable": self.unreadable,
            "pending": self.pending,
            **{name: counts.as_dict() for name, counts in self.analyzers.items()},
            "thumbnails": self.thumbnails.as_dict(),
            "errors": self.errors.as_dict(),
            "warnings": self.warnings.as_dict(),
        }
