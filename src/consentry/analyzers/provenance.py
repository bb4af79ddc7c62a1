"""Was this image made or changed by an AI generator? Provenance signals, and what they add up to.

consentry cannot *detect* AI generation from pixels: no learned detector ships its weights on
PyPI (see DESIGN.md). What it can do is read the provenance a file carries and say exactly what
each piece shows:

- **C2PA Content Credentials** (``provenance_c2pa``): a signed manifest, its claim generator,
  actions and IPTC digital source type, and whether the signature is trusted, valid but
  untrusted, or invalid. Read offline.
- **Invisible watermarks** (``provenance_watermark``): the SD 1.x, SD 2.x, SDXL and FLUX reference
  marks, decoded at full resolution, with bits matched and Stability's bands.
- **Generator metadata** (``provenance_metadata``): AUTOMATIC1111, ComfyUI, InvokeAI, NovelAI
  (including its alpha-LSB stealth text) and Fooocus records, EXIF/PNG ``Software``, XMP
  ``DigitalSourceType``; prompts, seeds and model names are kept as evidence.
- Optionally an **operator-provided ONNX classifier** (``OnnxDetector``): one more signal.

Each becomes a typed ``Signal`` whose ``strength`` is set in ONE place, ``signals_for`` below,
with the reasons; ``verdict_for`` takes the strongest. The verdict is ``confirmed``,
``indicated`` or ``no_signal`` - never "real": every one of these signals is easy to remove
(re-save, screenshot, crop), so their absence says nothing about how an image was made.

``ProvenanceAnalyzer.analyze`` never raises for a bad file: a part that fails is recorded in
``checks`` with status ``error`` and the rest still runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from consentry.analyzers import provenance_watermark as wm
from consentry.analyzers.models import ModelUnavailable, sha256_of_file
from consentry.analyzers.provenance_c2pa import C2paEvidence, C2paReader, Validation, claim_failures
from consentry.analyzers.provenance_metadata import (
    AI_SOURCE_TYPES,
    GENERATOR_SOFTWARE,
    PNG_SIGNATURE,
    FileMetadata,
    GeneratorMetadata,
    StealthText,
    read_metadata,
    read_stealth,
    stealth_generator,
)
from consentry.media.decode import DecodedImage, decode_image

NAME = "provenance"
VERSION = "1"

# --- Cost cap ----------------------------------------------------------------------------------
# Watermarks must be decoded at the size they were embedded, and stealth text is per pixel, so
# both need the full-resolution pixels; that decode is the analyzer's main cost (a 12 MP JPEG:
# ~0.10 s to decode + ~0.14 s to decode the marks, on one core here). Reference pipelines embed
# at generation size - SD 1.x 512 px, SD 2.x 768 px, SDXL ~1 MP, FLUX up to ~2 MP, the SD x4
# upscaler 2048 x 2048 = 4.2 MP - and resizing destroys the mark. So an image above 8.4 MP (twice
# the largest of those) cannot carry a mark that still decodes unless it was generated at that
# size; it is recorded as "not checked: too large", never as "no watermark". Raise the cap with
# ``ProvenanceAnalyzer.load(full_resolution_max_pixels=...)`` to check phone-size photos too.
FULL_RESOLUTION_MAX_PIXELS = 2 * 2048 * 2048

# Watermarks: a match confirms only when random bits would produce it with probability <= 1e-6
# for that mark. Stability's "very likely" band starts at 36/48 bits, which random bits reach with
# probability 3.6e-4 - fine for one image checked for one mark (and Stability saw no false hit in
# 10,000 real images), but a scan checks four marks on every image: 100,000 images would expect
# ~140 chance hits if decoded bits were coin flips, which on small, noisy images they nearly are
# (bench/provenance_signals.py: a 256 px StyleGAN face reached 35/48). At 1e-6 the expectation is
# ~0.4 per 100,000 images. Stability's "likely" band (34-35/48, chance 2.8e-3) is context only.
WATERMARK_CONFIRM_MAX_CHANCE = 1e-6

# An operator-provided detector's score at or above this counts as "indicated" (never confirmed:
# a learned detector is a guess, and this one was not validated by us).
DETECTOR_THRESHOLD = 0.5
JPEG_SKIPPED = (
    "JPEG not decoded at full resolution (default policy: marks rarely survive JPEG and the "
    "decode costs 100-250 ms per photo; scan --watermarks-in-jpeg checks them)"
)


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


class CheckStatus(StrEnum):
    CHECKED = "checked"
    NOT_CHECKED = "not_checked"  # not applicable or skipped (cost cap, library missing)
    ERROR = "error"


@dataclass(frozen=True)
class Check:
    """Whether one part ran: so a report can say "not looked for", not "nothing found"."""

    name: str  # c2pa | metadata | full_resolution | watermark | stealth | detector
    status: CheckStatus
    detail: str = ""


@dataclass(frozen=True)
class DetectorScore:
    score: float
    threshold: float
    model_sha256: str
    model_name: str


@dataclass(frozen=True)
class ProvenanceFinding:
    verdict: Verdict
    signals: tuple[Signal, ...]
    checks: tuple[Check, ...]
    # the evidence behind the signals, as stated in the file
    c2pa: C2paEvidence | None = None
    watermarks: tuple[wm.WatermarkMatch, ...] = ()  # bits matched per reference mark
    metadata: FileMetadata | None = None
    stealth: StealthText | None = None
    detector: DetectorScore | None = None
    # flattened for reports and search
    prompts: tuple[str, ...] = ()
    negative_prompts: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    model_names: tuple[str, ...] = ()
    generator_tools: tuple[str, ...] = ()
    claim_generator: str | None = None
    c2pa_actions: tuple[str, ...] = ()
    digital_source_types: tuple[str, ...] = ()
    error: str | None = None  # the parts that failed, joined; the verdict rests on the rest

    def to_payload(self) -> dict[str, Any]:
        """JSON-ready dict (enums as their values) for the store's payload column."""
        return json.loads(json.dumps(asdict(self), default=str))


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
                f"{_tool_name(stealth.tool)} generation record hidden in pixel LSBs "
                f"({stealth.source.split(':', 1)[-1]}): {_record_summary(stealth)}",
                stealth.source,
                f"{_tool_name(stealth.tool)} stealth metadata (pixel LSBs)",
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
            f"{_tool_name(record.tool)} generation record ({record.source}): "
            f"{_record_summary(record)}; unsigned text",
            record.source,
            f"{_tool_name(record.tool)} "
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


_TOOL_NAMES = {
    "automatic1111": "AUTOMATIC1111",
    "comfyui": "ComfyUI",
    "invokeai": "InvokeAI",
    "novelai": "NovelAI",
    "fooocus": "Fooocus",
}


def _tool_name(tool: str) -> str:
    return _TOOL_NAMES.get(tool, tool)


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


# --- Learned-detector seam ---------------------------------------------------------------------
class OnnxDetector:
    """An operator-provided ONNX classifier ("is this AI-generated?"): one more signal.

    consentry ships no weights and downloads none; the operator passes a file and its SHA-256 is
    recorded with every score. The model contract, stated so a model can be exported to fit it:

    - input: the first graph input, rank 4, float32, RGB scaled to [0, 1] (then ``(x - mean) /
      std`` if given), NCHW when dimension 1 is 3, else NHWC; spatial size from the graph, or
      ``default_side`` where it is symbolic. The picture fed is the scan's analysis image
      (<= 512 px), resized with area averaging.
    - output: the first graph output with 1 value (P(AI); a value outside [0, 1] is taken as a
      logit) or 2 values (``positive_index`` is the AI class; softmax applied unless the pair
      already sums to 1).
    """

    def __init__(
        self,
        path: str | Path,
        threshold: float = DETECTOR_THRESHOLD,
        positive_index: int = 1,
        mean: tuple[float, float, float] | None = None,
        std: tuple[float, float, float] | None = None,
        default_side: int = 224,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelUnavailable(str(self.path), "detector model file not found")
        self.model_sha256 = sha256_of_file(self.path)
        self.name = self.path.name
        self.threshold = float(threshold)
        self.positive_index = int(positive_index)
        self._mean = np.asarray(mean or (0.0, 0.0, 0.0), np.float32)
        self._std = np.asarray(std or (1.0, 1.0, 1.0), np.float32)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelUnavailable(self.name, f"onnxruntime is not installed: {exc}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # the scan parallelises across processes
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises untyped errors
            raise ModelUnavailable(self.name, f"onnxruntime cannot load it: {exc}") from None
        spec = self._session.get_inputs()[0]
        shape = list(spec.shape)
        if len(shape) != 4:
            raise ModelUnavailable(self.name, f"expected a rank-4 image input, got {shape}")
        self._input = spec.name
        self._nchw = shape[1] == 3
        if not self._nchw and shape[3] != 3:
            raise ModelUnavailable(self.name, f"no 3-channel axis in input shape {shape}")
        h, w = (shape[2], shape[3]) if self._nchw else (shape[1], shape[2])
        self._side = (
            h if isinstance(h, int) else default_side,
            w if isinstance(w, int) else default_side,
        )

    def score(self, rgb: np.ndarray) -> float:
        import cv2

        resized = cv2.resize(
            np.ascontiguousarray(rgb), (self._side[1], self._side[0]), interpolation=cv2.INTER_AREA
        )
        x = (resized.astype(np.float32) / 255.0 - self._mean) / self._std
        batch = (x.transpose(2, 0, 1) if self._nchw else x)[np.newaxis]
        output = np.asarray(
            self._session.run(None, {self._input: np.ascontiguousarray(batch, np.float32)})[0],
            dtype=np.float64,
        ).reshape(-1)
        if output.size == 1:
            value = float(output[0])
            return value if 0.0 <= value <= 1.0 else 1.0 / (1.0 + math.exp(-value))
        if output.size == 2:
            if not (np.all((output >= 0) & (output <= 1)) and abs(output.sum() - 1) < 1e-3):
                exp = np.exp(output - output.max())
                output = exp / exp.sum()
            return float(output[self.positive_index])
        raise ValueError(f"detector output has {output.size} values; expected 1 or 2")


# --- The analyzer ------------------------------------------------------------------------------
TRUST_ANCHORS_KEY = "c2pa_trust_anchors:"


def findings_model_key(detector_sha256: str | None, trust_anchors_sha256: str | None) -> str | None:
    """The store's ``model_sha256`` for a provenance finding: the files it was made with, the
    detector's SHA-256 and ``c2pa_trust_anchors:<SHA-256 of the PEM>``, comma-joined (None when
    neither). A scan with another detector or other anchors redoes the findings made without
    them (``pipeline._expected_models``, ``CaseStore.reanalysis_items``); a finding made with
    neither keeps the key it always had."""
    parts = [detector_sha256 or ""]
    if trust_anchors_sha256:
        parts.append(TRUST_ANCHORS_KEY + trust_anchors_sha256)
    return ",".join(p for p in parts if p) or None


class ProvenanceAnalyzer:
    """Load once per worker process, then ``analyze`` each file's bytes."""

    name = NAME
    version = VERSION

    def __init__(
        self,
        c2pa_reader: C2paReader | None,
        c2pa_unavailable: str | None = None,
        detector: OnnxDetector | None = None,
        full_resolution_max_pixels: int = FULL_RESOLUTION_MAX_PIXELS,
        jpeg_full_resolution: bool = False,
        trust_anchors_sha256: str | None = None,
    ) -> None:
        self.c2pa_reader = c2pa_reader
        # recorded even when c2pa-python is missing, so the findings' key matches the scan's
        self._trust_anchors_sha256 = trust_anchors_sha256
        self.c2pa_unavailable = c2pa_unavailable
        self.detector = detector
        self.full_resolution_max_pixels = int(full_resolution_max_pixels)
        self.jpeg_full_resolution = jpeg_full_resolution

    @classmethod
    def load(
        cls,
        trust_anchors_pem: str | None = None,
        detector_model: str | Path | None = None,
        full_resolution_max_pixels: int = FULL_RESOLUTION_MAX_PIXELS,
        jpeg_full_resolution: bool = False,
    ) -> ProvenanceAnalyzer:
        """The installed readers. ``trust_anchors_pem``: PEM text of C2PA trust anchors (without
        it no signature can be "trusted"); ``detector_model``: an ONNX file (ModelUnavailable if
        it cannot be loaded); ``jpeg_full_resolution``: also decode JPEGs at full size for the
        watermark check (see ``_full_resolution``). Without ``c2pa-python`` the C2PA check is
        recorded as not run."""
        reader: C2paReader | None = None
        unavailable = None
        try:
            reader = C2paReader(trust_anchors_pem)
        except ImportError as exc:
            unavailable = f"c2pa-python is not installed: {exc}"
        detector = OnnxDetector(detector_model) if detector_model is not None else None
        anchors = (
            hashlib.sha256(trust_anchors_pem.encode("utf-8")).hexdigest()
            if trust_anchors_pem
            else None
        )
        return cls(
            reader, unavailable, detector, full_resolution_max_pixels, jpeg_full_resolution, anchors
        )

    @property
    def trust_anchors_sha256(self) -> str | None:
        if self.c2pa_reader is not None and self.c2pa_reader.trust_anchors_sha256:
            return self.c2pa_reader.trust_anchors_sha256
        return self._trust_anchors_sha256

    @property
    def model_sha256(self) -> str | None:
        """What the findings were made with, for the store (see ``findings_model_key``)."""
        return findings_model_key(
            self.detector.model_sha256 if self.detector is not None else None,
            self.trust_anchors_sha256,
        )

    def describe(self) -> dict[str, Any]:
        """Method, versions and thresholds, for the audit log and reports."""
        return {
            "version": VERSION,
            "c2pa_sdk": self.c2pa_reader.sdk_version if self.c2pa_reader else None,
            "c2pa_unavailable": self.c2pa_unavailable,
            "c2pa_trust_anchors_configured": bool(
                self.c2pa_reader and self.c2pa_reader.trust_anchors_configured
            ),
            "c2pa_trust_anchors_sha256": self.trust_anchors_sha256,
            "c2pa_remote_manifest_fetch": False,
            "watermark_marks": {
                m.name: {
                    "bits": len(m.bits),
                    "very_likely_from": m.thresholds[0],
                    "likely_from": m.thresholds[1],
                    "partial_from": m.thresholds[2],
                }
                for m in wm.MARKS
            },
            "full_resolution_max_pixels": self.full_resolution_max_pixels,
            "watermarks_checked_in_jpeg": self.jpeg_full_resolution,
            "detector": None
            if self.detector is None
            else {
                "file": self.detector.name,
                "sha256": self.detector.model_sha256,
                "threshold": self.detector.threshold,
            },
        }

    def analyze(self, data: bytes, image: DecodedImage | None = None) -> ProvenanceFinding:
        """Every provenance signal in one file. ``image``: the scan's decoded image, if any
        (used by the detector; the watermark needs full resolution and decodes ``data``)."""
        checks: list[Check] = []
        c2pa = self._c2pa(data, checks)
        metadata = self._metadata(data, checks)
        pixels = self._full_resolution(data, checks)
        watermarks = self._watermarks(pixels, checks)
        stealth, stealth_record = self._stealth(data, pixels, checks)
        detector = self._detector(data, image, checks)

        signals = signals_for(c2pa, watermarks, metadata, stealth_record, detector)
        records = list(metadata.generators if metadata else ()) + (
            [stealth_record] if stealth_record else []
        )
        failed = [f"{c.name}: {c.detail}" for c in checks if c.status is CheckStatus.ERROR]
        return ProvenanceFinding(
            verdict=verdict_for(signals),
            signals=tuple(signals),
            checks=tuple(checks),
            c2pa=c2pa,
            watermarks=watermarks,
            metadata=metadata,
            stealth=stealth,
            detector=detector,
            prompts=_flat(r.prompts for r in records),
            negative_prompts=_flat(r.negative_prompts for r in records),
            seeds=tuple(dict.fromkeys(s for r in records for s in r.seeds)),
            model_names=_flat(r.models for r in records),
            generator_tools=_flat((r.tool,) for r in records),
            claim_generator=c2pa.claim_generator if c2pa else None,
            c2pa_actions=_flat((a.action,) for a in (c2pa.actions if c2pa else ())),
            digital_source_types=_flat(
                [c2pa.digital_source_types if c2pa else ()]
                + [metadata.digital_source_types if metadata else ()]
            ),
            error="; ".join(failed) or None,
        )

    # --- the parts; each records its Check and never raises -----------------------------------
    def _c2pa(self, data: bytes, checks: list[Check]) -> C2paEvidence | None:
        if self.c2pa_reader is None:
            checks.append(Check("c2pa", CheckStatus.NOT_CHECKED, self.c2pa_unavailable or ""))
            return None
        try:
            evidence = self.c2pa_reader.read(data)
        except LookupError as exc:
            checks.append(Check("c2pa", CheckStatus.NOT_CHECKED, str(exc)))
            return None
        except Exception as exc:  # noqa: BLE001 - c2pa raises its own error tree
            checks.append(
                Check(
                    "c2pa",
                    CheckStatus.ERROR,
                    f"C2PA data present but unreadable: {type(exc).__name__}: {exc}"[:500],
                )
            )
            return None
        checks.append(Check("c2pa", CheckStatus.CHECKED, _c2pa_summary(evidence)))
        return evidence

    def _metadata(self, data: bytes, checks: list[Check]) -> FileMetadata | None:
        try:
            metadata = read_metadata(data)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the scan
            checks.append(Check("metadata", CheckStatus.ERROR, f"{type(exc).__name__}: {exc}"))
            return None
        checks.append(Check("metadata", CheckStatus.CHECKED, "PNG text, EXIF, XMP"))
        return metadata

    def _full_resolution(self, data: bytes, checks: list[Check]) -> np.ndarray | None:
        """HxWx3 (or x4 with alpha) uint8 pixels as stored (no EXIF rotation), or None with a
        Check saying why not.

        JPEGs are skipped unless ``jpeg_full_resolution``: decoding a phone photo at full size
        costs 100-250 ms, more than the rest of a scan's work on it, and the marks rarely
        survive JPEG re-encoding anyway (generators write them into PNG output). Scans that
        must check every JPEG say so (``scan --watermarks-in-jpeg``); the check is recorded as
        not done, never as "no mark"."""
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if img.format == "JPEG" and not self.jpeg_full_resolution:
                    checks.append(Check("full_resolution", CheckStatus.NOT_CHECKED, JPEG_SKIPPED))
                    return None
                if width * height > self.full_resolution_max_pixels:
                    checks.append(
                        Check(
                            "full_resolution",
                            CheckStatus.NOT_CHECKED,
                            f"too large: {width}x{height} = {width * height / 1e6:.1f} MP > "
                            f"{self.full_resolution_max_pixels / 1e6:.1f} MP cap",
                        )
                    )
                    return None
                if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
                    checks.append(
                        Check("full_resolution", CheckStatus.NOT_CHECKED, "greyscale image")
                    )
                    return None
                alpha = img.mode in ("RGBA", "LA", "PA", "RGBa") or (
                    img.mode == "P" and "transparency" in img.info
                )
                pixels = np.asarray(img.convert("RGBA" if alpha else "RGB"), dtype=np.uint8)
        except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many types
            checks.append(
                Check("full_resolution", CheckStatus.ERROR, f"{type(exc).__name__}: {exc}"[:300])
            )
            return None
        return pixels

    def _watermarks(
        self, pixels: np.ndarray | None, checks: list[Check]
    ) -> tuple[wm.WatermarkMatch, ...]:
        if pixels is None:
            checks.append(Check("watermark", CheckStatus.NOT_CHECKED, _why_no_pixels(checks)))
            return ()
        height, width = pixels.shape[:2]
        if height * width < wm.MIN_PIXELS:
            checks.append(
                Check("watermark", CheckStatus.NOT_CHECKED, f"too small: {width}x{height}")
            )
            return ()
        try:
            matches = wm.match_marks(pixels[:, :, :3])
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("watermark", CheckStatus.ERROR, f"{type(exc).__name__}: {exc}"))
            return ()
        checks.append(Check("watermark", CheckStatus.CHECKED, f"dwtDct at {width}x{height}"))
        return matches

    def _stealth(
        self, data: bytes, pixels: np.ndarray | None, checks: list[Check]
    ) -> tuple[StealthText | None, GeneratorMetadata | None]:
        if not data.startswith(PNG_SIGNATURE):
            checks.append(Check("stealth", CheckStatus.NOT_CHECKED, "not a PNG (lossy or other)"))
            return None, None
        if pixels is None:
            checks.append(Check("stealth", CheckStatus.NOT_CHECKED, _why_no_pixels(checks)))
            return None, None
        try:
            stealth = read_stealth(pixels)
            problems: list[str] = []
            record = stealth_generator(stealth, problems) if stealth else None
        except Exception as exc:  # noqa: BLE001
            checks.append(Check("stealth", CheckStatus.ERROR, f"{type(exc).__name__}: {exc}"))
            return None, None
        modes = "alpha and RGB" if pixels.shape[2] == 4 else "RGB"
        detail = f"LSB {modes}" + (f"; {'; '.join(problems)}" if problems else "")
        checks.append(Check("stealth", CheckStatus.CHECKED, detail))
        return stealth, record

    def _detector(
        self, data: bytes, image: DecodedImage | None, checks: list[Check]
    ) -> DetectorScore | None:
        if self.detector is None:
            checks.append(Check("detector", CheckStatus.NOT_CHECKED, "no detector model given"))
            return None
        try:
            rgb = image.rgb if image is not None else decode_image(data).rgb
            score = self.detector.score(rgb)
        except Exception as exc:  # noqa: BLE001 - ItemError, onnxruntime errors
            checks.append(Check("detector", CheckStatus.ERROR, f"{type(exc).__name__}: {exc}"))
            return None
        checks.append(Check("detector", CheckStatus.CHECKED, self.detector.name))
        return DetectorScore(
            score, self.detector.threshold, self.detector.model_sha256, self.detector.name
        )


def _why_no_pixels(checks: Sequence[Check]) -> str:
    for check in checks:
        if check.name == "full_resolution":
            return check.detail
    return "no pixels"


def _c2pa_summary(evidence: C2paEvidence) -> str:
    if not evidence.present:
        return "no manifest"
    if evidence.remote_url:
        return f"remote manifest not fetched: {evidence.remote_url}"
    return f"manifest {evidence.validation.value if evidence.validation else 'unknown'}"


def _flat(groups: Any) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(v for group in groups for v in group if v not in (None, "")))


__all__ = [
    "DETECTOR_THRESHOLD",
    "FULL_RESOLUTION_MAX_PIXELS",
    "NAME",
    "SIGNAL_NAMES",
    "TRUST_ANCHORS_KEY",
    "VERSION",
    "WATERMARK_CONFIRM_MAX_CHANCE",
    "Check",
    "CheckStatus",
    "DetectorScore",
    "OnnxDetector",
    "ProvenanceAnalyzer",
    "ProvenanceFinding",
    "Signal",
    "SignalKind",
    "Strength",
    "Verdict",
    "findings_model_key",
    "signal_name",
    "signals_for",
    "verdict_for",
]
