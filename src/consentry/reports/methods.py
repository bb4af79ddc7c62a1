"""Measured error rates of each method, in one place, with where each figure comes from.

The figures are copied from ``docs/benchmarks.md`` (the benchmark scripts in ``bench/`` produce
them); when a benchmark is re-run, update both. A report states these next to each method so
a reader can weigh a finding. Where a rate was *not* measured, that is said explicitly.

Here: the methods that are not analyzers (hashes, PDQ, persons, derivation). Each analyzer
carries its own text (``Analyzer.method``, e.g. ``analyzers/builtins/explicit.py``), so a new
analyzer is described without an edit here.
"""

from __future__ import annotations

from consentry.analyzers import registry
from consentry.analyzers.contract import NOT_DESCRIBED, ErrorRate, MethodDescription

BENCHMARKS_DOC = "docs/benchmarks.md"


_FACES = f"{BENCHMARKS_DOC}, 'Face verification' (bench/face_verification.py, 2026-11-26)"
_PDQ = f"{BENCHMARKS_DOC}, 'Scan throughput' (bench/scan_throughput.py, tests/test_pdq.py)"
_VICTIMS = (
    f"{BENCHMARKS_DOC}, 'Victim count', after the group-consistency rule "
    "(bench/victim_count.py, 2026-11-26)"
)

_DERIVATION = (
    f"{BENCHMARKS_DOC}, 'Derivation linking', held-out seed 4 (bench/derivation.py, 2026-11-26)"
)

METHODS: dict[str, MethodDescription] = {
    "crypto_hashes": MethodDescription(
        "SHA-256, MD5 and SHA-1 of the exact bytes of every file (archive members as stored).",
        (ErrorRate("errors", "exact: any changed byte changes the hash", "definition"),),
    ),
    "pdq": MethodDescription(
        "Meta PDQ perceptual hash of the image shrunk to fit 512 px, with quality; visual "
        "duplicates are distinct files within Hamming distance 31 (quality >= 50).",
        (
            ErrorRate(
                "agreement with Meta's reference (python-threatexchange) on the same 512 px image",
                "identical on 12 of 12 photos",
                _PDQ,
            ),
            ErrorRate(
                "rotated/flipped copies outside the match distance (derived dihedral variants)",
                "5.2 % of 420 copies (median deviation 16 bits, max 42)",
                _PDQ,
            ),
        ),
    ),
    "persons": MethodDescription(
        "Faces are compared with consented enrolled persons (match >= 0.46, possible >= 0.41 "
        "cosine similarity); other usable faces are grouped into unidentified persons.",
        (
            ErrorRate(
                "false matches at the match threshold, real held-out faces",
                "FAR 0.0000 (0 of 17,293 impostor pairs)",
                _FACES,
            ),
            ErrorRate(
                "images attributed to an enrolled person at the match level that show someone "
                "else (synthetic case of 38 persons, 14 runs, group-consistency rule)",
                "0 in every run (precision 1.000, recall 1.000); before that rule one run of "
                "six had 4 wrong images (precision 0.950). Easy data: an upper bound",
                _VICTIMS,
            ),
            ErrorRate(
                "person-count estimate vs the truth (same case, 38 persons)",
                "+2.6 % to +5.3 % (39-40); range [25, 40] always held the truth",
                _VICTIMS,
            ),
        ),
    ),
    "derivation": MethodDescription(
        "Links an image to the picture in the case it was made from: local features, RANSAC "
        "alignment (crop, scale, rotation, mirror), a change mask, the direction from the "
        "evidence with its confidence, and whether the face is still the same person.",
        (
            ErrorRate(
                "links naming the wrong source or direction (synthetic edits of harmless "
                "photos: inpaint, texture, face paste, recolour; crop, resize, mirror, JPEG)",
                "precision 0.957 (48 wrong of 1,121 links; 36 name a sibling edit instead of "
                "the original), recall 0.933 of 1,150 derived images: a lead for an examiner, "
                "with the evidence shown",
                _DERIVATION,
            ),
            ErrorRate(
                "change-mask overlap with the true edit (right links)",
                "mean IoU 0.786 (inpainted regions 0.582)",
                _DERIVATION,
            ),
            ErrorRate(
                "face-swap verdict (right links)",
                "0.990 right (10 'cannot tell', 1 wrong of 1,073)",
                _DERIVATION,
            ),
        ),
    ),
}


def method_text(analyzer: str) -> MethodDescription:
    """The case-level methods' text here; an analyzer's from its own ``method``."""
    if analyzer in METHODS:
        return METHODS[analyzer]
    try:
        return registry.get(analyzer).method
    except registry.UnknownAnalyzer:  # findings of a plug-in no longer installed
        return NOT_DESCRIBED


__all__ = ["BENCHMARKS_DOC", "METHODS", "method_text"]
