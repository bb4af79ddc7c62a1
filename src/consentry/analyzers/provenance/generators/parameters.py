"""The ``parameters`` text (PNG) or EXIF ``UserComment`` that AUTOMATIC1111 and Fooocus both write:
which of the two wrote it, by its layout and Fooocus's stated scheme (PNG ``fooocus_scheme``, EXIF
``MakerNote``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from consentry.analyzers.provenance.fields import json_object
from consentry.analyzers.provenance.generators.automatic1111 import parse_a1111
from consentry.analyzers.provenance.generators.base import (
    GeneratorMetadata,
    GeneratorParser,
    PngTexts,
)
from consentry.analyzers.provenance.generators.fooocus import looks_fooocus, parse_fooocus


def parse_parameters(text: str, source: str, scheme: str = "") -> GeneratorMetadata | None:
    """A ``parameters`` value: Fooocus JSON, or AUTOMATIC1111's text format (also Fooocus's)."""
    data = json_object(text)
    if data is not None:
        return parse_fooocus(data, source) if looks_fooocus(data, scheme) else None
    record = parse_a1111(text, source)
    if record is not None and (scheme == "a1111" or "fooocus" in (record.software or "").lower()):
        record = replace(record, tool="fooocus")
    return record


def from_png_text(texts: PngTexts, problems: list[str]) -> GeneratorMetadata | None:
    """PNG ``parameters``; a text in no known layout is a problem, not a record."""
    parameters = texts.get("parameters")
    if parameters is None:
        return None
    scheme = (texts.get("fooocus_scheme") or "").strip().lower()
    record = parse_parameters(parameters, "png:parameters", scheme)
    if record is None:
        problems.append("png:parameters present but not in a known generator format")
    return record


def from_exif(exif: Mapping[str, str], problems: list[str]) -> GeneratorMetadata | None:
    """EXIF ``UserComment`` (JPEG/WebP), with Fooocus's scheme from a short ``MakerNote``."""
    comment = exif.get("UserComment")
    if not comment:
        return None
    scheme = (exif.get("MakerNote") or "").strip().lower()
    return parse_parameters(comment, "exif:UserComment", scheme if len(scheme) < 20 else "")


PARSER = GeneratorParser(png_text=from_png_text, exif=from_exif)
