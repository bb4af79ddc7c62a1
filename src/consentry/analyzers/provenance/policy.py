"""How provenance signals add up to a verdict: the one place a piece of evidence gets its strength.

``signals_for`` turns the evidence the readers found (C2PA, watermarks, generator metadata,
stealth text, an operator's detector score) into typed ``Signal``s, each with its strength and the
reasons in its docstring; ``verdict_for`` takes the strongest. The verdict is ``confirmed``,
``indicated`` or ``no_signal`` - never "real": every one of these signals is easy to remove
(re-save, screenshot, crop), so their absence says nothing about how an image was made. The
detail and name strings here are the report text examiners read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from consentry.analyzers.provenance import watermark as wm
from consentry.analyzers.provenance.c2pa import C2paEvidence, Validation, claim_failures
from consentry.analyzers.provenance.detector import DetectorScore
from consentry.analyzers.provenance.generators import tool_title
from consentry.analyzers.provenance.generators.base import GeneratorMetadata
from consentry.analyzers.provenance.metadata import (
    AI_SOURCE_TYPES,
    GENERATOR_SOFTWARE,
    FileMetadata,
)

# Watermarks: a match confirms only when random bits would produce it with probability <= 1e-6
# for that mark. Stability's "very likely" band starts at 36/48 bits, which random bits reach with
# probability 3.6e-4 - fine for one image checked for one mark (and Stability saw no false hit in
# 10,000 real images), but a scan checks four marks on every image: 100,000 images would expect
# ~140 chance hits if decoded bits were coin flips, which on small, noisy images they nearly are
# (bench/provenance_signals.py: a 256 px StyleGAN face reached 35/48). At 1e-6 the expectation is
# ~0.4 per 100,000 images. Stability's "likely" band (34-35/48, chance 2.8e-3) is context only.
WATERMARK_CONFIRM_MAX_CHANCE = 1e-6


class Verdict(StrEnum):
    CONFIRMED = "confirmed"  # provenance that a generator's own mechanism vouches for
    INDICATED = "indicated"  # unsigned or unverifiable signs of a generator
    NO_SIGNAL = "no_signal"  # nothing found: NOT evidence that the image is a real photo


class Strength(StrEnum):
    CONFIRMS = "confirms"
    INDICATES = "indicates"
    CONTEXT = "context"  # recorded for the examiner; does not move the verdict


class SignalKind(StrEnum):
    C2PA_AI_CLAIM = "c2pa_ai_claim"
    C2PA_GENERATOR = "c2pa_generator"
    C2PA_MANIFEST = "c2pa_manifest"
    C2PA_IDENTITY = "c2pa_identity"  # a CAWG identity assertion that did not verify
    WATERMARK = "watermark"
    GENERATOR_METADATA = "generator_metadata"
    STEALTH_METADATA = "stealth_metadata"
    XMP_SOURCE_TYPE = "xmp_digital_source_type"
    GENERATOR_SOFTWARE = "generator_software"
    METADATA_UNPARSED = "metadata_unparsed"
    LEARNED_DETECTOR = "learned_detector"


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    strength: Strength
    detail: str  # one sentence an examiner can read in a report
    source: str  # where in the file: "c2pa", "watermark:sdxl", "png:parameters", ...
    name: str = ""  # a few words for a report line: "ComfyUI workflow metadata"


# a signal's name when none was stated (findings stored before names were recorded)
SIGNAL_NAMES = {
    SignalKind.C2PA_AI_CLAIM: "C2PA AI source type claim",
    SignalKind.C2PA_GENERATOR: "C2PA claim generator names an image generator",
    SignalKind.C2PA_MANIFEST: "C2PA manifest without AI claim",
    SignalKind.C2PA_IDENTITY: "C2PA identity assertion not verified",
    SignalKind.WATERMARK: "invisible watermark",
    SignalKind.GENERATOR_METADATA: "generator metadata",
    SignalKind.STEALTH_METADATA: "stealth generator metadata",
    SignalKind.XMP_SOURCE_TYPE: "XMP DigitalSourceType",
    SignalKind.GENERATOR_SOFTWARE: "software field names a generator",
    SignalKind.METADATA_UNPARSED: "unparsed generator metadata",
    SignalKind.LEARNED_DETECTOR: "operator-provided detector score",
}


def signal_name(kind: str, name: str = "") -> str:
    """The name to show for a signal: its own, else its kind's."""
    if name:
        return name
    try:
        return SIGNAL_NAMES[SignalKind(kind)]
    except ValueError:
        return kind.replace("_", " ")


# --- Verdict policy: the one place -------------------------------------------------------------
def signals_for(
    c2pa: C2paEvidence | None,
    watermarks: Sequence[wm.WatermarkMatch],
    metadata: FileMetadata | None,
    stealth: GeneratorMetadata | None,
    detector: DetectorScore | None,
) -> list[Signal]:
    """Every signal in the evidence, with its strength. The reasons:

    - **Confirms**: (a) a C2PA manifest whose signature chains to an operator-trusted anchor and
      whose active manifest declares an AI digital source type (``trainedAlgorithmicMedia`` or
      ``compositeWithTrainedAlgorithmicMedia``): the signer vouches for it cryptographically;
      (b) a reference watermark in Stability's "very likely" band whose match is also at most
      ``WATERMARK_CONFIRM_MAX_CHANCE`` likely by chance (SDXL >= 41/48, FLUX >= 39/46, SD 1.x >=
      96/136, SD 2.x >= 30/32). The watermark code is public, so a mark shows the pixels went
      through watermarking code - in practice a generator; the detail says so.
    - **Indicates**: an AI source type in a C2PA manifest that is valid but untrusted (anyone can
      sign anything with a home-made certificate), invalid (changed after signing) or only in an
      ingredient; a claim generator naming an image generator; a watermark in Stability's "very
      likely" band below the confirm cut-off; generator metadata or stealth text (unsigned text
      any tool can write); XMP
      ``DigitalSourceType`` AI codes (unsigned); EXIF/PNG ``Software`` or XMP ``CreatorTool``
      naming a generator; an operator-provided detector at or above its threshold.
    - **Context**: everything else found - a C2PA manifest without an AI claim, a remote manifest
      we did not fetch, a CAWG identity assertion that did not verify (who signed; never a sign
      the picture changed, and never what makes a manifest "invalid"), a mark explained by a
      stronger one, a mark in Stability's "likely" band, non-AI source types, metadata we could
      not parse, a detector score below threshold.
      Stability's "partial" band is no signal at all (kept in ``ProvenanceFinding.watermarks``):
      by chance alone ~16% of unmarked images reach it for each mark.
    """
    out: list[Signal] = []
    if c2pa is not None and c2pa.present:
        out += _c2pa_signals(c2pa)
    out += _watermark_signals(watermarks)
    if metadata is not None:
        out += _metadata_signals(metadata)
    if stealth is not None:
        out.append(
            Signal(
                SignalKind.STEALTH_METADATA,
                Strength.INDICATES,
                f"{tool_title(stealth.tool)} generation record hidden in pixel LSBs "
                f"({stealth.source.split(':', 1)[-1]}): {_record_summary(stealth)}",
                stealth.source,
                f"{tool_title(stealth.tool)} stealth metadata (pixel LSBs)",
            )
        )
    if detector is not None:
        above = detector.score >= detector.threshold
        out.append(
            Signal(
                SignalKind.LEARNED_DETECTOR,
                Strength.INDICATES if above else Strength.CONTEXT,
                f"operator-provided detector {detector.model_name} "
                f"(SHA-256 {detector.model_sha256[:12]}…) scored {detector.score:.3f} "
                f"({'>=' if above else '<'} threshold {detector.threshold}); not validated by "
                "consentry",
                "detector",
                f"detector score {detector.score:.2f}"
                + (" (above threshold)" if above else " (below threshold)"),
            )
        )
    return out


def verdict_for(signals: Sequence[Signal]) -> Verdict:
    strengths = {s.strength for s in signals}
    if Strength.CONFIRMS in strengths:
        return Verdict.CONFIRMED
    if Strength.INDICATES in strengths:
        return Verdict.INDICATED
    return Verdict.NO_SIGNAL


def _c2pa_signals(c2pa: C2paEvidence) -> list[Signal]:
    if c2pa.remote_url is not None:
        return [
            Signal(
                SignalKind.C2PA_MANIFEST,
                Strength.CONTEXT,
                f"C2PA manifest referenced at {c2pa.remote_url}; not fetched (offline), so "
                "neither its claims nor its signature were checked",
                "c2pa",
                "remote C2PA manifest (not fetched)",
            )
        ]
    validation = c2pa.validation or Validation.INVALID
    if validation is Validation.VALID_UNTRUSTED and c2pa.claim_signer_trusted:
        # c2pa-rs lowers Trusted to Valid when only an identity assertion is unverified
        untrusted = (
            "the claim signer is on the configured trust list, but the SDK does not call it "
            "trusted while an identity assertion is unverified"
        )
    elif c2pa.trust_anchors_configured:
        untrusted = "not on the configured trust list"
    else:
        untrusted = "no trust list configured"
    failed = claim_failures(c2pa.failure_codes) or tuple(
        c for c in c2pa.failure_codes if c and c not in c2pa.identity_failures
    )
    state = {
        Validation.TRUSTED: f"signature trusted (signer: {c2pa.signer or 'not stated'})",
        Validation.VALID_UNTRUSTED: (
            f"signature valid but untrusted (signer: {c2pa.signer or 'not stated'}; "
            f"{untrusted}): anyone can sign such a claim"
        ),
        Validation.INVALID: "validation failed ("
        + (", ".join(failed) or "no code")
        + "): changed after signing, or not signed by the key it names",
    }[validation]
    state_word = {
        Validation.TRUSTED: "trusted signature",
        Validation.VALID_UNTRUSTED: "valid, untrusted signature",
        Validation.INVALID: "invalid signature",
    }[validation]
    generator = f"claim generator {c2pa.claim_generator!r}" if c2pa.claim_generator else ""
    out: list[Signal] = []
    ai_actions = [a for a in c2pa.actions if (a.digital_source_type or "") in AI_SOURCE_TYPES]
    ai_types = [t for t in c2pa.digital_source_types if t in AI_SOURCE_TYPES]
    in_active = [a for a in ai_actions if a.active]
    if in_active or (ai_types and not ai_actions):
        codes = sorted({a.digital_source_type or "" for a in in_active} | set(ai_types))
        confirmed = validation is Validation.TRUSTED and bool(in_active)
        verbs = ", ".join(sorted({a.action for a in in_active})) or "an assertion"
        out.append(
            Signal(
                SignalKind.C2PA_AI_CLAIM,
                Strength.CONFIRMS if confirmed else Strength.INDICATES,
                f"C2PA manifest store declares {', '.join(codes)} ({AI_SOURCE_TYPES[codes[0]]}) in "
                f"{verbs}; {state}" + (f"; {generator}" if generator else ""),
                "c2pa",
                f"C2PA {codes[0]} claim ({state_word})",
            )
        )
    elif ai_actions:
        codes = sorted({a.digital_source_type or "" for a in ai_actions})
        out.append(
            Signal(
                SignalKind.C2PA_AI_CLAIM,
                Strength.INDICATES,
                f"an ingredient's C2PA manifest declares {', '.join(codes)}; {state}",
                "c2pa",
                f"C2PA {codes[0]} claim in an ingredient ({state_word})",
            )
        )
    if c2pa.claim_generator and GENERATOR_SOFTWARE.search(c2pa.claim_generator):
        out.append(
            Signal(
                SignalKind.C2PA_GENERATOR,
                Strength.INDICATES,
                f"C2PA {generator} names an image generator; {state}",
                "c2pa",
                f"C2PA claim generator {c2pa.claim_generator[:60]}",
            )
        )
    if not out:
        stated = ", ".join(c2pa.digital_source_types) or "none stated"
        out.append(
            Signal(
                SignalKind.C2PA_MANIFEST,
                Strength.CONTEXT,
                f"C2PA manifest present, no AI source type declared (source types: {stated}); "
                f"{state}" + (f"; {generator}" if generator else ""),
                "c2pa",
                f"C2PA manifest without AI claim ({state_word})",
            )
        )
    if c2pa.identity_failures:
        out.append(
            Signal(
                SignalKind.C2PA_IDENTITY,
                Strength.CONTEXT,
                "CAWG identity assertion not verified ("
                + ", ".join(c2pa.identity_failures)
                + "): a statement about who signed could not be checked; it does not mean the "
                "picture was changed after signing",
                "c2pa:cawg.identity",
                "C2PA identity assertion not verified",
            )
        )
    return out


def _watermark_signals(matches: Sequence[wm.WatermarkMatch]) -> list[Signal]:
    out: list[Signal] = []
    strong = [m for m in matches if m.band in (wm.Band.VERY_LIKELY, wm.Band.LIKELY)]
    # marks share structure (SD 1.x and SD 2.x are both ASCII text), so one embedded mark can lift
    # another's count; attribute the image to the least-likely-by-chance match only
    best = min(strong, key=lambda m: _chance(m.bits, m.matched), default=None)
    for match in strong:  # "partial" is no signal: ~16% of unmarked images reach it per mark
        chance = _chance(match.bits, match.matched)
        counted = (
            f"{match.matched}/{match.bits} bits of the {match.generator} mark "
            f"(Stability's band: {match.band.value.replace('_', ' ')}; chance {chance:.1e})"
        )
        if match is not best:
            stronger = best.mark if best is not None else "other"
            detail = f"{counted}; explained by the stronger {stronger} match"
            strength = Strength.CONTEXT
        elif match.band is wm.Band.LIKELY:
            detail = (
                f"{counted}: too weak to count - random bits reach this band with probability "
                "~0.3% per mark, and four marks are checked on every image"
            )
            strength = Strength.CONTEXT
        else:
            confirms = chance <= WATERMARK_CONFIRM_MAX_CHANCE
            detail = (
                f"invisible watermark: {counted}; the watermark code is public, so this shows the "
                "pixels went through it"
                + (
                    ""
                    if confirms
                    else f" (confirms only at chance <= {WATERMARK_CONFIRM_MAX_CHANCE:.0e})"
                )
            )
            strength = Strength.CONFIRMS if confirms else Strength.INDICATES
        out.append(
            Signal(
                SignalKind.WATERMARK,
                strength,
                detail,
                f"watermark:{match.mark}",
                f"{match.generator} invisible watermark",
            )
        )
    return out


def _metadata_signals(metadata: FileMetadata) -> list[Signal]:
    out = [
        Signal(
            SignalKind.GENERATOR_METADATA,
            Strength.INDICATES,
            f"{tool_title(record.tool)} generation record ({record.source}): "
            f"{_record_summary(record)}; unsigned text",
            record.source,
            f"{tool_title(record.tool)} "
            f"{'workflow' if record.tool == 'comfyui' else 'generation'} metadata",
        )
        for record in metadata.generators
    ]
    for code in metadata.digital_source_types:
        ai = code in AI_SOURCE_TYPES
        out.append(
            Signal(
                SignalKind.XMP_SOURCE_TYPE,
                Strength.INDICATES if ai else Strength.CONTEXT,
                f"XMP states IPTC DigitalSourceType {code}"
                + (f" ({AI_SOURCE_TYPES[code]})" if ai else "")
                + "; unsigned metadata",
                "xmp",
                f"XMP DigitalSourceType {code}",
            )
        )
    for name in metadata.generator_software:
        out.append(
            Signal(
                SignalKind.GENERATOR_SOFTWARE,
                Strength.INDICATES,
                f"software field names an image generator: {name!r}; unsigned metadata",
                "exif/png/xmp software",
                f"software field {name[:60]!r}",
            )
        )
    for problem in metadata.problems:
        if "parameters" in problem or "invokeai" in problem or "prompt" in problem:
            out.append(
                Signal(
                    SignalKind.METADATA_UNPARSED,
                    Strength.CONTEXT,
                    problem,
                    "png",
                    "unparsed generator metadata",
                )
            )
    return out


def _chance(bits: int, matched: int) -> float:
    return sum(math.comb(bits, i) for i in range(matched, bits + 1)) / 2**bits


def _record_summary(record: GeneratorMetadata) -> str:
    parts = []
    if record.prompts:
        prompt = record.prompts[0]
        parts.append(f"prompt {prompt[:80] + '…' if len(prompt) > 80 else prompt!r}")
    if record.seeds:
        parts.append(f"seed {', '.join(str(s) for s in record.seeds[:3])}")
    if record.models:
        parts.append(f"model {', '.join(record.models[:3])}")
    return "; ".join(parts) or "no prompt, seed or model stated"
