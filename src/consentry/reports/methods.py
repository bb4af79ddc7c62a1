"""Measured error rates of each method, in one place, with where each figure comes from.

The figures are copied from ``docs/benchmarks.md`` (the benchmark scripts in ``bench/`` produce
them); when a benchmark is re-run, update both. A report states these next to each method so
a reader can weigh a finding. Where a rate was *not* measured, that is said explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass

BENCHMARKS_DOC = "docs/benchmarks.md"


@dataclass(frozen=True)
class ErrorRate:
    measure: str  # what was measured, in words
    value: str  # the figure as published (a string: "0 of 921", "not measured", ...)
    source: str  # section of docs/benchmarks.md and the script that produced it


@dataclass(frozen=True)
class MethodText:
    description: str
    rates: tuple[ErrorRate, ...]


_FACES = f"{BENCHMARKS_DOC}, 'Face verification' (bench/face_verification.py, 2026-11-26)"
_EXPLICIT = (
    f"{BENCHMARKS_DOC}, 'Explicit content: false positives' "
    "(bench/explicit_false_positives.py, 2026-11-26)"
)
_PDQ = f"{BENCHMARKS_DOC}, 'Scan throughput' (bench/scan_throughput.py, tests/test_pdq.py)"
_VICTIMS = (
    f"{BENCHMARKS_DOC}, 'Victim count', after the group-consistency rule "
    "(bench/victim_count.py, 2026-11-26)"
)

_DERIVATION = (
    f"{BENCHMARKS_DOC}, 'Derivation linking', held-out seed 4 (bench/derivation.py, 2026-11-26)"
)

METHODS: dict[str, MethodText] = {
    "crypto_hashes": MethodText(
        "SHA-256, MD5 and SHA-1 of the exact bytes of every file (archive members as stored).",
        (ErrorRate("errors", "exact: any changed byte changes the hash", "definition"),),
    ),
    "pdq": MethodText(
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
    "explicit": MethodText(
        "Yahoo Open-NSFW whole-image score (and NudeNet 320n body regions when installed): "
        "explicit (score >= 0.8, or an exposed intimate region >= 0.5 with score >= 0.2), "
        "suggestive (score >= 0.2 or any exposed intimate region), none, unknown.",
        (
            ErrorRate(
                "harmless images labelled explicit (false positives)",
                "0 of 921 (0.000), with and without NudeNet",
                _EXPLICIT,
            ),
            ErrorRate(
                "harmless images labelled suggestive",
                "2 of 921 (0.22 %) default install; 12 of 921 (1.30 %) with NudeNet",
                _EXPLICIT,
            ),
            ErrorRate(
                "recall on explicit images (explicit images labelled explicit)",
                "not measured: no explicit material may enter this project; a 'none' label "
                "does not prove an image is not explicit",
                _EXPLICIT,
            ),
        ),
    ),
    "faces": MethodText(
        "YuNet face detection and SFace 128-d identity embedding; faces under 48 px in the "
        "analysed 512 px picture, blurred or in profile are recorded but not usable.",
        (
            ErrorRate(
                "real faces, held-out identities: ROC AUC; TAR at FAR 0.1 %",
                "AUC 1.0000; TAR 1.000 (2,043 genuine / 17,293 impostor pairs; small, easy sets)",
                _FACES,
            ),
            ErrorRate(
                "synthetic people (openpeople): impostor pairs passing the match threshold",
                "6 % (FAR 0.0598 at similarity 0.46); AUC 0.949",
                _FACES,
            ),
        ),
    ),
    "persons": MethodText(
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
    "provenance": MethodText(
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
    ),
    "derivation": MethodText(
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


def method_text(analyzer: str) -> MethodText:
    return METHODS.get(
        analyzer,
        MethodText("no description", (ErrorRate("error rate", "not measured", "no benchmark"),)),
    )


__all__ = ["BENCHMARKS_DOC", "METHODS", "ErrorRate", "MethodText", "method_text"]
