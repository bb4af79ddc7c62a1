"""The provenance analyzer under the contract: C2PA, invisible watermarks and generator metadata
read from the file's bytes, one verdict (``provenance.Verdict``). Configured by the scan's
``ProvenanceSettings``; findings made with another detector or other trust anchors are redone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from consentry.analyzers import provenance as engine_mod
from consentry.analyzers.contract import (
    AnalysisInput,
    Analyzer,
    ErrorRate,
    Finding,
    MethodDescription,
    ModelDigest,
    Threshold,
)
from consentry.analyzers.plan import AnalysisPlan, ProvenanceSettings
from consentry.records.analyzer_counts import CountedLabel, CountRule, FindingCounts


def load_provenance(settings: ProvenanceSettings = ProvenanceSettings()) -> Any:
    return engine_mod.ProvenanceAnalyzer.load(
        trust_anchors_pem=settings.c2pa_trust_anchors_pem,
        detector_model=settings.detector_model,
        jpeg_full_resolution=settings.watermarks_in_jpeg,
    )


@dataclass(frozen=True)
class ProvenancePayload:
    finding: engine_mod.ProvenanceFinding

    def to_json(self) -> dict[str, Any]:
        return self.finding.to_payload()


class ProvenanceAnalyzerAdapter(Analyzer):
    name = engine_mod.NAME
    version = engine_mod.VERSION
    needs_bytes = True
    dedicated_report_fields = True
    redo_on_model_change = True
    method: ClassVar[MethodDescription] = MethodDescription(
        "C2PA content credentials (read offline), Stable Diffusion / SDXL / FLUX invisible "
        "watermarks and generator metadata: confirmed / indicated / no_signal. Absence of a "
        "signal never means an image is authentic. The C2PA state is c2pa-rs's own (trusted / "
        "valid but untrusted / invalid, with its failure codes); 'trusted' only under the trust "
        "anchors given with the scan (c2pa_trust_anchors_sha256: the SHA-256 of that PEM file). "
        "An unverified CAWG identity assertion (cawg.* codes) is reported as its own signal: it "
        "is about who signed, not about the picture being changed.",
        (
            ErrorRate(
                "C2PA state differing from the C2PA SDK's (c2pa.Reader validation_state)",
                "none by construction: the SDK's state is taken as given; tested on generated "
                "signed, tampered, CAWG-identity and trust-anchored files",
                "tests/test_provenance_c2pa.py::test_consentry_states_agree_with_c2pa_reader",
            ),
            ErrorRate(
                "recall on AI-generated images",
                "not measured on real-world fakes; watermarks survive JPEG poorly and resizing "
                "not at all; metadata is easily stripped",
                "src/consentry/analyzers/provenance*.py docstrings; tests/test_provenance*.py",
            ),
        ),
    )

    def __init__(self, engine: engine_mod.ProvenanceAnalyzer) -> None:
        self.engine = engine

    @classmethod
    def load(cls, plan: AnalysisPlan) -> ProvenanceAnalyzerAdapter:
        return cls(load_provenance(plan.provenance))

    @classmethod
    def settings(cls, plan: AnalysisPlan) -> object:
        return plan.provenance

    @classmethod
    def findings_model_key(cls, plan: AnalysisPlan) -> str | None:
        return plan.provenance.findings_model_key()

    def model_files(self) -> tuple[ModelDigest, ...]:
        detector = self.engine.detector
        if detector is None:
            return ()
        return (ModelDigest("detector", detector.model_sha256, detector.name),)

    def thresholds(self) -> tuple[Threshold, ...]:
        return tuple(Threshold(k, v) for k, v in self.describe().items() if k != "version")

    def describe(self) -> dict[str, Any]:
        return self.engine.describe()

    @classmethod
    def method_thresholds(cls, described: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        # every setting recorded is part of the method (readers, anchors, marks, detector)
        return {k: v for k, v in described.items() if k != "version"}

    def analyze(self, content: AnalysisInput) -> Finding:
        assert content.data is not None  # needs_bytes: the runner gives it bytes or skips it
        finding = self.engine.analyze(content.data, content.image)
        return Finding(
            label=finding.verdict.value,
            score=None,
            payload=ProvenancePayload(finding),
            model_key=self.engine.model_sha256,
            error=bool(finding.error),
        )

    @classmethod
    def counting(cls) -> CountRule:
        # image files by verdict; no_signal means nothing was found, never "real"
        return FindingCounts(
            cls.name,
            (
                CountedLabel(
                    "confirmed_ai", "confirmed", "AI-made, confirmed by provenance (files)"
                ),
                CountedLabel(
                    "indicated_ai", "indicated", "AI-made, indicated by provenance (files)"
                ),
                CountedLabel(
                    "no_signal", "no_signal", "no provenance signal (files; not proof of real)"
                ),
            ),
            not_analysed_text="images not checked for provenance",
            by_label_key="by_verdict",
        )


__all__ = ["ProvenanceAnalyzerAdapter", "ProvenancePayload", "load_provenance"]
