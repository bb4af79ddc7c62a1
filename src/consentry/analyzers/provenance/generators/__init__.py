"""The image generators whose records consentry reads, one module each, and where each writes.

A generator's module reads its own record (``GeneratorMetadata``: prompts, seeds, models,
settings, as stated) and registers hooks (``base.GeneratorParser``) for the containers it writes
to: PNG text chunks, EXIF, the JPEG comment. ``PARSERS`` lists them in the order their records are
reported; each container's hooks run in that order. Adding a generator is one module with a
``PARSER`` plus one line in ``PARSERS`` (and its name in ``TOOL_TITLES``, for reports).

``fooocus`` registers nothing of its own: it writes into AUTOMATIC1111's ``parameters`` text,
which ``parameters`` tells apart. Text hidden in pixel LSBs is dispatched by ``stealth``.
"""

from __future__ import annotations

from consentry.analyzers.provenance.generators import (
    automatic1111,
    comfyui,
    invokeai,
    novelai,
    parameters,
)
from consentry.analyzers.provenance.generators.base import GeneratorParser

PARSERS: tuple[GeneratorParser, ...] = (
    parameters.PARSER,  # AUTOMATIC1111 or Fooocus, in PNG ``parameters`` / EXIF UserComment
    comfyui.PARSER,
    invokeai.PARSER,
    novelai.PARSER,
    automatic1111.PARSER,  # its infotext in a JPEG comment
)

# ``GeneratorMetadata.tool`` -> the name reports show
TOOL_TITLES = {
    "automatic1111": "AUTOMATIC1111",
    "comfyui": "ComfyUI",
    "invokeai": "InvokeAI",
    "novelai": "NovelAI",
    "fooocus": "Fooocus",
}


def tool_title(tool: str) -> str:
    """A tool's name as reports show it; an unlisted tool by its id."""
    return TOOL_TITLES.get(tool, tool)
