"""What the methods section says about each method, and every error rate it quotes, with where
each rate was measured.

The rates live in one file, ``measured_rates.json`` (packaged beside this module), one rate per
line: what it measures, its value, what it was measured on, the seed or split, whether that seed
was held out from every rule and threshold, the date, the benchmark command and the section of
``docs/benchmarks.md``. When a benchmark is re-run, edit that rate's line there (and the same
figure in ``docs/benchmarks.md``). ``tests/test_report_wording_rates.py`` checks that the
methods section quotes no rate that is not in that file.

The built-in methods (hashes, PDQ, explicit, faces, provenance, persons, derivation) quote only
those rates. A plug-in analyzer's own ``Analyzer.method`` rates are shown as the plug-in states
them, marked so (consentry's benchmarks did not measure them).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from consentry.analyzers import registry
from consentry.analyzers.contract import NOT_DESCRIBED, ErrorRate, MethodDescription
from consentry.reports.model import MeasuredRate

BENCHMARKS_DOC = "docs/benchmarks.md"
RATES_FILE = Path(__file__).with_name("measured_rates.json")

# the case-level methods that are not analyzers: their description here
DESCRIPTIONS: dict[str, str] = {
    "crypto_hashes": "SHA-256, MD5 and SHA-1 of the exact bytes of every file (archive members "
    "as stored).",
    "pdq": "Meta PDQ perceptual hash of the image shrunk to fit 512 px, with quality; visual "
    "duplicates are distinct files within Hamming distance 31 (quality >= 50).",
    "persons": "Faces are compared with consented enrolled persons (match >= 0.46, possible "
    ">= 0.41 cosine similarity); other usable faces are grouped into unidentified persons.",
    "derivation": "Links an image to a picture in the case it was made from: common details "
    "are matched and the two pictures aligned (crop, scale, rotation, mirror), the pixels that "
    "differ are outlined, the direction (which picture is the original) is weighed from the "
    "evidence with its own confidence, and the face is compared to tell whether it is still "
    "the same person.",
}
TITLES: dict[str, str] = {
    "crypto_hashes": "File hashes",
    "pdq": "Perceptual hash (visual duplicates)",
    "explicit": "Explicit-content labels",
    "faces": "Face detection and identity features",
    "provenance": "Provenance (AI-generation signals)",
    "persons": "Persons (face matching and grouping)",
    "derivation": "Derivation (which image was made from which)",
}


@cache
def measured_rates() -> tuple[MeasuredRate, ...]:
    """Every rate in ``measured_rates.json``, in file order."""
    data = json.loads(RATES_FILE.read_text(encoding="utf-8"))
    return tuple(MeasuredRate(**row) for row in data["rates"])


def rates_of(method: str) -> tuple[MeasuredRate, ...]:
    return tuple(r for r in measured_rates() if r.method == method)


def rate_source(rate: MeasuredRate) -> str:
    """One line: where the rate comes from (the ``ErrorRate.source`` of the JSON report)."""
    parts = []
    if rate.section:
        parts.append(f"{BENCHMARKS_DOC}, '{rate.section}'")
    if rate.command:
        parts.append(f"`{rate.command}`")
    if rate.seed:
        held = (
            "" if rate.held_out is None else (", held out" if rate.held_out else ", not held out")
        )
        parts.append(f"seed {rate.seed}{held}")
    if rate.date:
        parts.append(rate.date)
    return "; ".join(parts) or rate.measured_on


def method_text(analyzer: str) -> MethodDescription:
    """A method's description and error rates: the measured ones from ``measured_rates.json``
    for the built-in methods; a plug-in analyzer's own text otherwise."""
    rates = rates_of(analyzer)
    if analyzer in DESCRIPTIONS:
        own = MethodDescription(DESCRIPTIONS[analyzer], NOT_DESCRIBED.rates)
    else:
        try:
            own = registry.get(analyzer).method
        except registry.UnknownAnalyzer:  # findings of a plug-in no longer installed
            own = NOT_DESCRIBED
    if not rates:
        return own
    return MethodDescription(
        own.description, tuple(ErrorRate(r.measure, r.value, rate_source(r)) for r in rates)
    )


def title(analyzer: str) -> str:
    """The method's name in words for a reader ("File hashes"); a plug-in's own name."""
    return TITLES.get(analyzer, analyzer)


__all__ = [
    "BENCHMARKS_DOC",
    "DESCRIPTIONS",
    "RATES_FILE",
    "measured_rates",
    "method_text",
    "rate_source",
    "rates_of",
    "title",
]
