"""The analyzer contract: what every analyzer (built-in or a plug-in) declares and returns.

An analyzer is a class that says who it is (``name``, ``version``), what content it accepts
(``accepts``), how it loads (``load``: models are read once per worker process), which model
files it runs (``model_files``, with their SHA-256) and which thresholds are in force
(``thresholds``), and turns one piece of content into one typed ``Finding``. The class also says
how its findings are counted (``counting``: the rule the store applies), described in the
report's methods section (``method``) and classified in CASE/UCO (``uco_classes``). The core
(runner, scan, store counts, reports) reads only this contract, so a new analyzer is one module
and one registration (``analyzers.registry``; plug-ins: the ``consentry.analyzers`` entry-point
group), never an edit of the core. The count rules (``CountedLabel``, ``FindingCounts``,
``FaceTableCounts``, defined in ``records`` for the store) are re-exported here so a plug-in
imports one module.

A finding is stored as one ``FindingRecord`` row (label, score, the model files' key and a JSON
payload); an analyzer may also return extra typed records the store keeps in their own tables
(face records, for now).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from consentry.records.analyzer_counts import (
    CountedLabel,
    CountRule,
    FaceTableCounts,
    FindingCounts,
)
from consentry.records.items import FaceRecord, FindingRecord

if TYPE_CHECKING:
    from consentry.analyzers.plan import AnalysisPlan
    from consentry.media.decode import DecodedImage


class ContentKind(StrEnum):
    """What an analyzer can look at. Only images are handed out today; video frames and other
    kinds come with their readers, and an analyzer lists the kinds it accepts."""

    IMAGE = "image"


@dataclass(frozen=True)
class AnalysisInput:
    """One piece of content, as the scan hands it to every analyzer that accepts its kind."""

    sha256: str
    image: DecodedImage  # decoded once for every analyzer, fitting ANALYSIS_SIDE
    data: bytes | None  # the file's bytes (None when only the decoded picture is at hand)
    # the label the blur rule goes by (the explicit-content label), when already known: an
    # analyzer that writes pictures into the case (face crops) blurs them by it
    blur_label: str | None
    case_dir: Path | None  # where pictures may be written; None: write nothing
    kind: ContentKind = ContentKind.IMAGE


@dataclass(frozen=True)
class ModelDigest:
    """One model file an analyzer ran, by the role it plays, with its SHA-256."""

    role: str  # e.g. "open_nsfw", "yunet"
    sha256: str
    file: str | None = None  # the file's name or path, where it says something


@dataclass(frozen=True)
class Threshold:
    """One threshold or setting in force, as recorded with the scan and shown in the report."""

    name: str
    value: Any  # a JSON value


@dataclass(frozen=True)
class ErrorRate:
    measure: str  # what was measured, in words
    value: str  # the figure as published (a string: "0 of 921", "not measured", ...)
    source: str  # section of docs/benchmarks.md and the script that produced it


@dataclass(frozen=True)
class MethodDescription:
    """What the report's methods section says about a method: how it works, in a sentence or
    three, and its measured error rates (or that they were not measured)."""

    description: str
    rates: tuple[ErrorRate, ...]


NOT_DESCRIBED = MethodDescription(
    "no description", (ErrorRate("error rate", "not measured", "no benchmark"),)
)


class Payload(Protocol):
    """The typed detail of a finding; stored as JSON next to its label and score."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Finding:
    """What one analyzer concluded about one piece of content."""

    label: str | None  # from the analyzer's label vocabulary (None: the analyzer gives none)
    score: float | None
    payload: Payload
    # which model files made it, as stored (a finding made with another key may be redone: see
    # Analyzer.findings_model_key); None when it ran no model file
    model_key: str | None
    error: bool = False  # the analysis failed; the finding says so and why (payload)
    faces: tuple[FaceRecord, ...] = ()  # extra typed records for the store's face table

    def record(self, analyzer: str, version: str, sha256: str) -> FindingRecord:
        return FindingRecord(
            sha256=sha256,
            analyzer=analyzer,
            analyzer_version=version,
            model_sha256=self.model_key,
            status="error" if self.error else "ok",
            label=self.label,
            score=self.score,
            payload=json.dumps(self.payload.to_json(), sort_keys=True, default=str),
        )


class Analyzer(ABC):
    """One analyzer. Subclass it, fill in the class attributes and the abstract methods, and
    register the class (``analyzers.registry``). See docs/architecture.md for a worked example.
    """

    name: ClassVar[str]  # unique; what --only / --skip and the store call it
    version: ClassVar[str]  # findings made by another version are named as such in reports
    accepts: ClassVar[frozenset[ContentKind]] = frozenset({ContentKind.IMAGE})
    default: ClassVar[bool] = True  # runs unless skipped (False: only when asked by --only)
    method: ClassVar[MethodDescription] = NOT_DESCRIBED
    # the label the blur rule goes by: exactly one analyzer (explicit) decides it; it runs
    # first so the others' pictures (face crops) and the thumbnail are blurred by it
    decides_blur: ClassVar[bool] = False
    # the built-ins whose findings have their own fields in report schema 1 (explicit_label,
    # provenance_verdict, person codes) and their own named counts; every other analyzer's
    # findings are listed per item in the report's generic ``findings`` and counted per label
    dedicated_report_fields: ClassVar[bool] = False
    needs_bytes: ClassVar[bool] = False  # reads the file's bytes: not run without them
    # findings made with other model files than findings_model_key(plan) are redone by a scan
    redo_on_model_change: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def load(cls, plan: AnalysisPlan) -> Analyzer:
        """Load the models (once per worker process); raise models.ModelUnavailable, with what
        to install, when one is missing."""

    @abstractmethod
    def model_files(self) -> tuple[ModelDigest, ...]:
        """The model files this instance runs."""

    @abstractmethod
    def thresholds(self) -> tuple[Threshold, ...]:
        """The thresholds and settings in force."""

    @abstractmethod
    def analyze(self, content: AnalysisInput) -> Finding:
        """One finding for one piece of content. Must not raise for bad content: a failure is a
        finding with ``error=True`` (an exception costs the whole item its analysis)."""

    @classmethod
    def counting(cls) -> CountRule:
        """How ``case summary`` and the reports count the findings: by default, image files per
        label of the ``labels`` vocabulary."""
        return FindingCounts(
            cls.name, (), not_analysed_text=f"images not checked by the {cls.name} analyzer"
        )

    @classmethod
    def settings(cls, plan: AnalysisPlan) -> object:
        """The part of the plan this analyzer is configured by: loaded again when it changes."""
        return None

    @classmethod
    def findings_model_key(cls, plan: AnalysisPlan) -> str | None:
        """The model key findings made under ``plan`` carry (``redo_on_model_change`` only)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Version, model files and thresholds, as the scan records them in its audit event
        (``scan_started``) and the report's methods section reads them back."""
        return {
            "version": self.version,
            "model_sha256": {m.role: m.sha256 for m in self.model_files()},
            "thresholds": {t.name: t.value for t in self.thresholds()},
        }

    @classmethod
    def method_thresholds(cls, described: Mapping[str, Any]) -> dict[str, Any]:
        """The thresholds the methods section shows, from what ``describe`` recorded."""
        return dict(described.get("thresholds") or {})

    @classmethod
    def uco_classes(cls, label: str | None, score: float | None) -> list[tuple[str, float | None]]:
        """CASE/UCO ``analysis:class`` names (with confidence) for a finding of this label."""
        return [(f"{cls.name}:{label}", score)] if label else []


__all__ = [
    "NOT_DESCRIBED",
    "AnalysisInput",
    "Analyzer",
    "ContentKind",
    "CountRule",
    "CountedLabel",
    "ErrorRate",
    "FaceTableCounts",
    "Finding",
    "FindingCounts",
    "MethodDescription",
    "ModelDigest",
    "Payload",
    "Threshold",
]
