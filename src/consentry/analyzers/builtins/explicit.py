"""The explicit-content analyzer under the contract: Open-NSFW score (+ NudeNet regions), one
label of ``explicit.Label``; its label is the one the blur rule goes by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from consentry.analyzers import explicit as engine_mod
from consentry.analyzers.contract import (
    AnalysisInput,
    Analyzer,
    ErrorRate,
    Finding,
    MethodDescription,
    ModelDigest,
    Threshold,
)
from consentry.analyzers.plan import AnalysisPlan
from consentry.records.analyzer_counts import CountedLabel, CountRule, FindingCounts

BENCHMARK = (
    "docs/benchmarks.md, 'Explicit content: false positives' "
    "(bench/explicit_false_positives.py --split held-out: the held-out half, by identity, "
    "seed 13; no rule was tuned on it; 2026-12-02)"
)


@dataclass(frozen=True)
class ExplicitPayload:
    regions: tuple[engine_mod.Region, ...]
    regions_checked: bool  # False: NudeNet not installed, regions were not looked for
    error: str | None
    reason: str = ""  # the rule that gave the label, in words (version 2 on)
    faces: tuple[engine_mod.Box, ...] = ()  # face boxes the regions were weighed against

    def to_json(self) -> dict[str, Any]:
        return {
            "regions": [
                {
                    "class": r.class_name,
                    "box": list(r.box),
                    "score": round(r.score, 4),
                    # only intimate regions are weighed: None = counted (or not intimate)
                    "set_aside": r.set_aside,
                }
                for r in self.regions
            ],
            "regions_checked": self.regions_checked,
            "error": self.error,
            "reason": self.reason,
            "faces": [[round(v, 1) for v in box] for box in self.faces],
        }


class ExplicitContentAnalyzer(Analyzer):
    name = engine_mod.NAME
    version = engine_mod.VERSION
    decides_blur = True
    dedicated_report_fields = True
    method: ClassVar[MethodDescription] = MethodDescription(
        "Yahoo Open-NSFW whole-image score (and NudeNet 320n body regions when installed): "
        "explicit (score >= 0.8, or an exposed intimate region that counts >= 0.5 with score "
        ">= 0.2), suggestive (score >= 0.2 or any exposed intimate region that counts), none, "
        "unknown. A region does not count when half of it or more lies on a face (YuNet or "
        "NudeNet face box): an intimate part is not a face, and a face taken for one is the "
        "detector's known false positive; nor, when the score is under 0.1, when it is centred "
        "in the neckline band just below a face or scores under 0.5. The trade-off: an explicit "
        "image whose only evidence is such a region, and which Open-NSFW scores low, is no "
        "longer flagged; neither model publishes the recall this costs.",
        (
            ErrorRate(
                "harmless images labelled explicit (false positives)",
                "0 of 513 held-out harmless images (0.000), with and without NudeNet",
                BENCHMARK,
            ),
            ErrorRate(
                "harmless images labelled suggestive",
                "2 of 513 held-out (0.39 %) with NudeNet (version 1 of the rule: 6, 1.17 %); "
                "1 of 513 (0.19 %) default install",
                BENCHMARK,
            ),
            ErrorRate(
                "recall on explicit images (explicit images labelled explicit)",
                "not measured: no explicit material may enter this project; a 'none' label "
                "does not prove an image is not explicit",
                BENCHMARK,
            ),
        ),
    )

    def __init__(self, engine: engine_mod.ExplicitAnalyzer) -> None:
        self.engine = engine

    @classmethod
    def load(cls, plan: AnalysisPlan) -> ExplicitContentAnalyzer:
        return cls(engine_mod.load_explicit())

    def model_files(self) -> tuple[ModelDigest, ...]:
        files = [ModelDigest("open_nsfw", self.engine.model_sha256)]
        if self.engine.regions_model_sha256 is not None:
            files.append(ModelDigest("nudenet", self.engine.regions_model_sha256))
        if self.engine.faces_model_sha256 is not None:
            files.append(ModelDigest("yunet", self.engine.faces_model_sha256))
        return tuple(files)

    def thresholds(self) -> tuple[Threshold, ...]:
        return (
            Threshold("safe_below", engine_mod.SAFE_BELOW),
            Threshold("explicit_from", engine_mod.EXPLICIT_FROM),
            Threshold("region_explicit_from", engine_mod.REGION_EXPLICIT_FROM),
            Threshold("region_on_face_fraction", engine_mod.ON_FACE_FRACTION),
            Threshold("region_neckline_depth", engine_mod.NECKLINE_DEPTH),
            Threshold("region_alone_from", engine_mod.REGION_ALONE_FROM),
            Threshold("region_support_from", engine_mod.SUPPORT_FROM),
            Threshold("face_min_score", engine_mod.FACE_MIN_SCORE),
        )

    def describe(self) -> dict[str, Any]:
        # the form scans have always recorded (audit logs of older cases read the same), plus
        # the face detector the region rule weighs regions against (version 2 on)
        return {
            "version": self.version,
            "open_nsfw_sha256": self.engine.model_sha256,
            "nudenet_sha256": self.engine.regions_model_sha256,
            "yunet_sha256": self.engine.faces_model_sha256,
            "thresholds": {t.name: t.value for t in self.thresholds()},
        }

    def analyze(self, content: AnalysisInput) -> Finding:
        finding = self.engine.analyze(content.image.rgb)
        models = [m for m in (finding.model_sha256, finding.regions_model_sha256) if m]
        return Finding(
            label=finding.label.value,
            score=finding.score,
            payload=ExplicitPayload(
                tuple(finding.regions),
                finding.regions_model_sha256 is not None,
                finding.error,
                finding.reason,
                finding.faces,
            ),
            model_key=",".join(models),
            error=bool(finding.error) and finding.score is None,
        )

    @classmethod
    def counting(cls) -> CountRule:
        return FindingCounts(
            cls.name,
            (
                CountedLabel(
                    "explicit_images", "explicit", "explicit images (files labelled explicit)"
                ),
                CountedLabel(
                    "suggestive_images",
                    "suggestive",
                    "suggestive images (files labelled suggestive)",
                ),
            ),
            not_analysed_text="images not checked for explicit content",
        )


__all__ = ["ExplicitContentAnalyzer", "ExplicitPayload"]
