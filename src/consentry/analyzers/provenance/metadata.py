"""What image-generation tools write into the files they save: prompts, seeds, models, software.

``read_metadata`` reads a file's containers (``containers``: PNG text chunks, EXIF, JPEG comment,
XMP), hands each to the generator parsers registered in ``generators`` (AUTOMATIC1111, ComfyUI,
InvokeAI, NovelAI, Fooocus) and collects, from all of them, the ``Software``/``CreatorTool``
names and XMP ``DigitalSourceType`` codes. Pixels are not decoded (text in pixel LSBs is
``stealth``'s).

All of this is **unsigned text**: anyone can write it into any file and any editor can strip it.
It indicates a tool was involved; it proves nothing, and its absence proves nothing either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from consentry.analyzers.provenance.containers import (
    PNG_SIGNATURE,
    jpeg_comment,
    png_text_chunks,
    read_exif,
    xmp_digital_source_types,
    xmp_packets,
    xmp_values,
)
from consentry.analyzers.provenance.fields import clip, unique
from consentry.analyzers.provenance.generators import PARSERS
from consentry.analyzers.provenance.generators.base import GeneratorMetadata, PngTexts

# IPTC NewsCodes digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/) that
# say a trained model made or changed the picture. Others (digitalCapture, algorithmicMedia, ...)
# are recorded but are not AI claims.
AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": "created by a trained algorithm (generative AI)",
    "compositeWithTrainedAlgorithmicMedia": "composite including generative-AI elements",
}

# Software names of image generators, as tools write them in EXIF/PNG ``Software``, XMP
# ``CreatorTool`` or a C2PA claim generator. Word-bounded and conservative: a name that is also
# an ordinary word or another product (e.g. "Flux", "Imagen") is left out.
GENERATOR_SOFTWARE = re.compile(
    r"\b(NovelAI|Midjourney|DALL[\s\-·・]?E|Stable[\s\-]?Diffusion|ComfyUI|InvokeAI|Fooocus|"
    r"AUTOMATIC1111|Adobe\s+Firefly|DreamStudio|Leonardo\.Ai|NightCafe|Craiyon)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FileMetadata:
    """Generator-relevant metadata read from one file's bytes."""

    generators: tuple[GeneratorMetadata, ...] = ()
    software: tuple[str, ...] = ()  # EXIF/PNG Software, XMP CreatorTool, as stated
    generator_software: tuple[str, ...] = ()  # those of ``software`` naming a known generator
    camera_make: str | None = None
    camera_model: str | None = None
    digital_source_types: tuple[str, ...] = ()  # XMP Iptc4xmpExt:DigitalSourceType codes
    text_keys: tuple[str, ...] = ()  # PNG text chunk keywords present
    problems: tuple[str, ...] = ()


def read_metadata(data: bytes) -> FileMetadata:
    """All generator-relevant metadata in ``data`` (any image format). Never raises."""
    problems: list[str] = []
    texts: dict[str, str] = {}
    exif_bytes: bytes | None = None
    is_png = data.startswith(PNG_SIGNATURE)
    if is_png:
        chunks, exif_bytes, chunk_problems = png_text_chunks(data)
        problems += chunk_problems
        for key, value in chunks:
            texts.setdefault(key, value)  # first occurrence wins, as Pillow's .info does
    exif = read_exif(data, exif_bytes, problems)
    comment = None if is_png else jpeg_comment(data)

    generators = _generator_records(PngTexts(texts), exif, comment, problems)

    packets = [texts[k] for k in texts if k == "XML:com.adobe.xmp"] + xmp_packets(data)
    source_types: list[str] = []
    creator_tools: list[str] = []
    for packet in packets:
        source_types += xmp_digital_source_types(packet)
        creator_tools += xmp_values(packet, "CreatorTool")

    software = unique(
        [exif.get("Software", ""), texts.get("Software", ""), *creator_tools], limit=20
    )
    return FileMetadata(
        generators=tuple(generators),
        software=software,
        generator_software=tuple(s for s in software if GENERATOR_SOFTWARE.search(s)),
        camera_make=clip(exif["Make"]) if _plain_text(exif.get("Make")) else None,
        camera_model=clip(exif["Model"]) if _plain_text(exif.get("Model")) else None,
        digital_source_types=unique(source_types, limit=20),
        text_keys=tuple(sorted(texts))[:100],
        problems=tuple(problems[:50]),
    )


def _generator_records(
    texts: PngTexts, exif: dict[str, str], comment: str | None, problems: list[str]
) -> list[GeneratorMetadata]:
    """Every registered generator's record: PNG text first, then EXIF, then the JPEG comment,
    each in ``PARSERS`` order."""
    out: list[GeneratorMetadata | None] = []
    out += [p.png_text(texts, problems) for p in PARSERS if p.png_text is not None]
    out += [p.exif(exif, problems) for p in PARSERS if p.exif is not None]
    if comment:
        out += [p.jpeg_comment(comment, problems) for p in PARSERS if p.jpeg_comment is not None]
    return [record for record in out if record is not None]


def _plain_text(value: str | None) -> bool:
    return bool(value) and not str(value).startswith(("prompt:", "workflow:"))
