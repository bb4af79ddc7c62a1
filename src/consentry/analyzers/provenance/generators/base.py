"""What every generator parser returns, and the hooks a generator registers in ``generators``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratorMetadata:
    """One generator's record as found in the file: what was stated, nothing inferred."""

    tool: str  # automatic1111 | comfyui | invokeai | novelai | fooocus
    source: str  # where it was found, e.g. "png:parameters", "exif:UserComment"
    prompts: tuple[str, ...] = ()
    negative_prompts: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    models: tuple[str, ...] = ()  # checkpoint / model names as stated
    model_hashes: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    sampler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    size: str | None = None
    software: str | None = None  # the tool's own version string, when stated
    settings: tuple[tuple[str, str], ...] = ()  # remaining stated key/value pairs


class PngTexts:
    """A PNG's text chunks (the first of each keyword, as Pillow's ``.info`` keeps them): looked
    up by keyword case-insensitively with ``get`` (tools disagree on case), or as stated with
    ``exact``."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self.exact = texts
        self._lower = {k.lower(): k for k in texts}

    def get(self, name: str) -> str | None:
        key = self._lower.get(name.lower())
        return self.exact[key] if key is not None else None


@dataclass(frozen=True)
class GeneratorParser:
    """Where one generator writes its record, each a reader returning it (or None: not this
    generator's) and appending to ``problems`` what it found but could not parse. A hook left
    None means the generator does not write there."""

    png_text: Callable[[PngTexts, list[str]], GeneratorMetadata | None] | None = None
    exif: Callable[[Mapping[str, str], list[str]], GeneratorMetadata | None] | None = None
    jpeg_comment: Callable[[str, list[str]], GeneratorMetadata | None] | None = None
