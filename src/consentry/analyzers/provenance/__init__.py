"""Was this image made or changed by an AI generator? Provenance signals, and what they add up to.

consentry cannot *detect* AI generation from pixels: no learned detector ships its weights on
PyPI (see DESIGN.md). What it can do is read the provenance a file carries and say exactly what
each piece shows. One module per job:

- ``c2pa``: **C2PA Content Credentials**: a signed manifest, its claim generator, actions and IPTC
  digital source type, and whether the signature is trusted, valid but untrusted, or invalid.
  Read offline.
- ``watermark``: **invisible watermarks**: the SD 1.x, SD 2.x, SDXL and FLUX reference marks,
  decoded at full resolution, with bits matched and Stability's bands.
- ``metadata``: **generator metadata**, read from the file's containers (``containers``: PNG
  text chunks, EXIF, JPEG comment, XMP) by one parser per generator (``generators/``:
  AUTOMATIC1111, ComfyUI, InvokeAI, NovelAI, Fooocus), plus EXIF/PNG ``Software`` and XMP
  ``DigitalSourceType``; ``stealth``: NovelAI's and ``stealth_pnginfo``'s text in pixel LSBs.
  Prompts, seeds and model names are kept as evidence.
- ``detector``: optionally an **operator-provided ONNX classifier** (``OnnxDetector``): one more
  signal.
- ``policy``: each piece becomes a typed ``Signal`` whose strength is set in ONE place,
  ``signals_for``, with the reasons; ``verdict_for`` takes the strongest.

This module holds the analyzer: ``ProvenanceAnalyzer`` runs the readers on a file's bytes, records
what each did (``Check``) and returns a ``ProvenanceFinding``; it decides what is read, at what
cost, and how the store keys the findings. ``analyze`` never raises for a bad file: a part that
fails is recorded in ``checks`` with status ``error`` and the rest still runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from consentry.analyzers.provenance import watermark as wm
from consentry.analyzers.provenance.c2pa import C2paEvidence, C2paReader
from consentry.analyzers.provenance.containers import PNG_SIGNATURE
from consentry.analyzers.provenance.detector import DetectorScore, OnnxDetector
from consentry.analyzers.provenance.generators.base import GeneratorMetadata
from consentry.analyzers.provenance.metadata import FileMetadata, read_metadata
from consentry.analyzers.provenance.policy import Signal, Verdict, signals_for, verdict_for
from consentry.analyzers.provenance.stealth import StealthText, read_stealth, stealth_generator
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
JPEG_SKIPPED = (
    "JPEG not decoded at full resolution (default policy: marks rarely survive JPEG and the "
    "decode costs 100-250 ms per photo; scan --watermarks-in-jpeg checks them)"
)


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
                    f"C2PA data present but unreadable: {_why(exc)}"[:500],
                )
            )
            return None
        checks.append(Check("c2pa", CheckStatus.CHECKED, _c2pa_summary(evidence)))
        return evidence

    def _metadata(self, data: bytes, checks: list[Check]) -> FileMetadata | None:
        try:
            metadata = read_metadata(data)
        except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the scan
            checks.append(Check("metadata", CheckStatus.ERROR, f"{_why(exc)}"))
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
            checks.append(Check("full_resolution", CheckStatus.ERROR, f"{_why(exc)}"[:300]))
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
            checks.append(Check("watermark", CheckStatus.ERROR, f"{_why(exc)}"))
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
            checks.append(Check("stealth", CheckStatus.ERROR, f"{_why(exc)}"))
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
            checks.append(Check("detector", CheckStatus.ERROR, f"{_why(exc)}"))
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


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _why(exc: BaseException) -> str:
    """An exception as a check's detail: its type and message, without the memory addresses
    some messages carry (``<_io.BytesIO object at 0x7f...>``), which differ on every run and
    would make the same evidence read differently."""
    return _ADDRESS.sub("", f"{type(exc).__name__}: {exc}")
