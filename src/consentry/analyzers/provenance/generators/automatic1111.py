"""AUTOMATIC1111's infotext, wherever it is found: its JPEG comment here; PNG ``parameters`` and
EXIF ``UserComment`` through ``parameters`` (which it shares with Fooocus); pixel LSBs through
``stealth`` (the ``stealth_pnginfo`` extension)."""

from __future__ import annotations

import re

from consentry.analyzers.provenance.fields import (
    opt_text,
    setting_pairs,
    strings,
    to_float,
    to_int,
    unquote,
)
from consentry.analyzers.provenance.generators.base import GeneratorMetadata, GeneratorParser

# AUTOMATIC1111 modules/infotext_utils.py ``re_param``: `key: value` pairs, values may be quoted
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_A1111_KEYS = {"steps", "sampler", "seed", "cfg scale", "size", "model", "model hash"}


def parse_a1111(text: str, source: str) -> GeneratorMetadata | None:
    """AUTOMATIC1111's infotext: prompt lines, ``Negative prompt:`` lines, a last line of
    ``Key: value`` pairs (``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, ...``)."""
    lines = text.strip().split("\n")
    if not lines:
        return None
    pairs = [(k.strip(), unquote(v.strip())) for k, v in _A1111_PARAM.findall(lines[-1])]
    if len(pairs) < 3 or len({k.lower() for k, _ in pairs} & _A1111_KEYS) < 2:
        return None  # not infotext: refuse rather than guess
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines[:-1]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    params = dict(pairs)
    models = [params[k] for k in ("Model", "Refiner") if params.get(k)]
    hashes = [params[k] for k in ("Model hash",) if params.get(k)]
    seeds = [s for s in (to_int(params.get("Seed")),) if s is not None]
    used = {"Model", "Model hash", "Seed", "Sampler", "Steps", "CFG scale", "Size", "Version"}
    return GeneratorMetadata(
        tool="automatic1111",
        source=source,
        prompts=strings(["\n".join(prompt).strip()]),
        negative_prompts=strings(["\n".join(negative).strip()]),
        seeds=tuple(seeds),
        models=strings(models),
        model_hashes=strings(hashes),
        loras=strings(re.findall(r"<lora:([^:>]+)", "\n".join(prompt))),
        sampler=opt_text(params.get("Sampler")),
        steps=to_int(params.get("Steps")),
        cfg_scale=to_float(params.get("CFG scale")),
        size=opt_text(params.get("Size")),
        software=opt_text(params.get("Version")),
        settings=setting_pairs((k, v) for k, v in pairs if k not in used),
    )


def from_jpeg_comment(text: str, problems: list[str]) -> GeneratorMetadata | None:
    """A JPEG ``COM`` segment holding infotext (some savers put it there instead of EXIF)."""
    return parse_a1111(text, "jpeg:COM")


PARSER = GeneratorParser(jpeg_comment=from_jpeg_comment)
