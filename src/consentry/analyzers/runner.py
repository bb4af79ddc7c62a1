"""The planned analyzers and the review thumbnail, per process.

Analyzers load once per worker process (``init_process``), from installed packages only. Which
ones run is the scan's ``AnalysisPlan`` (``--only`` / ``--skip``); each is a registered
``contract.Analyzer`` (``analyzers.registry``), so this module names none of them. They run in
registration order: the one that decides the blur rule's label (explicit) first, so the pictures
the others write (face crops) and the thumbnail are blurred by it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consentry.analyzers import registry
from consentry.analyzers.contract import AnalysisInput, Analyzer, ContentKind
from consentry.analyzers.models import ModelUnavailable
from consentry.analyzers.plan import AnalysisPlan
from consentry.media.decode import DecodedImage
from consentry.media.thumbnails import write_thumbnail
from consentry.records.items import ImageAnalysis

THUMBNAIL = "thumbnail"  # not an analyzer, but also redone when missing

_process: dict[str, Analyzer] = {}  # loaded analyzers of this process, by name
_settings: dict[str, object] = {}  # the plan settings each was loaded with
_plan: list[AnalysisPlan] = []  # the plan in force here (at most one)


def init_process(plan: AnalysisPlan) -> None:
    """Load the plan's analyzers in this process (worker initializer; also used in-process).
    An analyzer already loaded with the same settings is kept."""
    _plan[:] = [plan]
    loaded = dict(_process)
    _process.clear()  # refilled in registration order: the order they run in
    for cls in registry.analyzers():
        if cls.name not in plan.analyzers:
            continue
        settings = cls.settings(plan)
        kept = loaded.get(cls.name)
        if kept is None or _settings.get(cls.name) != settings:
            kept = cls.load(plan)
            _settings[cls.name] = settings
        _process[cls.name] = kept
    missing = sorted(plan.analyzers - set(_process))
    if missing:  # asked for by name, but not registered (or its plug-in is broken)
        try:
            registry.get(missing[0])
        except registry.UnknownAnalyzer as exc:
            raise ModelUnavailable(missing[0], str(exc)) from None


def reset_process() -> None:
    """Forget loaded models (tests swap loaders between runs)."""
    _process.clear()
    _settings.clear()
    _plan.clear()


def describe_plan() -> dict[str, Any]:
    """Analyzers with versions, model hashes and thresholds, for the audit log and reports."""
    return {name: analyzer.describe() for name, analyzer in _process.items()}


def expected_model_keys(plan: AnalysisPlan) -> dict[str, str | None]:
    """For the analyzers whose findings are redone when made with other model files: the key
    findings made under ``plan`` carry (``CaseStore.reanalysis_items``)."""
    return {
        cls.name: cls.findings_model_key(plan)
        for cls in registry.analyzers()
        if cls.name in plan.analyzers and cls.redo_on_model_change
    }


def analyse_image(
    image: DecodedImage,
    sha256: str,
    needs: frozenset[str] | None = None,
    known_label: str | None = None,
    data: bytes | None = None,
) -> ImageAnalysis:
    """Run the planned analyzers (or only ``needs``) on a decoded image, then its thumbnail.

    ``data`` (the file's bytes) is for the analyzers that read them (provenance) and lets the
    face analyzer take a second, sharper look at faces too small in the analysed picture.
    ``known_label``: the blur rule's label already recorded for this content (re-analysis)."""
    plan = _plan[0] if _plan else AnalysisPlan(frozenset(), None)
    wanted = plan.analyzers if needs is None else plan.analyzers & needs
    case_dir = Path(plan.case_dir) if plan.case_dir else None
    out = ImageAnalysis()
    label = known_label
    redo_thumbnail = needs is None or THUMBNAIL in needs
    for name, analyzer in _process.items():
        if name not in wanted or ContentKind.IMAGE not in analyzer.accepts:
            continue
        if analyzer.needs_bytes and data is None:
            continue
        content = AnalysisInput(sha256, image, data, label, case_dir)
        finding = analyzer.analyze(content)
        if analyzer.decides_blur:
            label = finding.label
            redo_thumbnail = True  # the thumbnail follows the label it was rendered for
        out.findings.append(finding.record(name, analyzer.version, sha256))
        out.faces.extend(finding.faces)
    if case_dir is not None and redo_thumbnail:
        out.thumbnail = write_thumbnail(case_dir, sha256, image.rgb, label)
    return out


__all__ = [
    "THUMBNAIL",
    "analyse_image",
    "describe_plan",
    "expected_model_keys",
    "init_process",
    "reset_process",
]
