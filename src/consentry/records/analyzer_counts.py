"""How the case summary counts an analyzer's findings: a rule the analyzer declares
(``analyzers.contract.Analyzer.counting``) and the store applies (``CaseStore.counts``).

The store sits below the analyzers and may not import them, so an analyzer hands it plain data:
which labels to count under which key, and the words ``case summary`` prints for each row. The
store therefore counts the findings of analyzers it has never heard of (a plug-in's) the same
way as the built-ins'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CountedLabel:
    """Image files (locations) whose finding carries ``label``, counted as ``key``."""

    key: str  # the name in the analyzer's block of the summary, e.g. "explicit_images"
    label: str  # the finding label counted, e.g. "explicit"
    text: str  # the row of `case summary`, e.g. "explicit images (files labelled explicit)"
    what: str = ""  # what the report's count says it counts ("" for the built-ins: see reports)


@dataclass(frozen=True)
class FindingCounts:
    """The block ``{<key>: files, ..., <by_label_key>: {label: {files, unique_images}},
    images_not_analysed: n}`` of one analyzer's findings, under the analyzer's name."""

    analyzer: str
    labels: tuple[CountedLabel, ...]
    not_analysed_text: str  # the row for image files without a finding of this analyzer
    by_label_key: str = "by_label"

    def summary_rows(self, block: Mapping[str, Any]) -> list[tuple[str, int]]:
        rows = [(c.text, int(block[c.key])) for c in self.labels]
        return [*rows, (self.not_analysed_text, int(block["images_not_analysed"]))]


@dataclass(frozen=True)
class FaceTableCounts:
    """The block ``{faces, usable_faces, unique_images_with_faces}`` from the store's face
    table, under the analyzer's name (an analyzer whose findings add face records)."""

    analyzer: str

    def summary_rows(self, block: Mapping[str, Any]) -> list[tuple[str, int]]:
        return [
            ("faces found (in unique images)", int(block["faces"])),
            ("  usable for identity", int(block["usable_faces"])),
            ("unique images with faces", int(block["unique_images_with_faces"])),
        ]


CountRule = FindingCounts | FaceTableCounts

__all__ = ["CountRule", "CountedLabel", "FaceTableCounts", "FindingCounts"]
