"""NovelAI's PNG text (``Software``, ``Description``, ``Source``, ``Comment``); the same JSON in
pixel LSBs is read through ``stealth``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consentry.analyzers.provenance.fields import (
    as_list,
    json_object,
    opt_text,
    setting_pairs,
    size_text,
    strings,
    to_float,
    to_int,
)
from consentry.analyzers.provenance.generators.base import (
    GeneratorMetadata,
    GeneratorParser,
    PngTexts,
)


def parse_novelai(
    texts: Mapping[str, Any], source: str, problems: list[str]
) -> GeneratorMetadata | None:
    """NovelAI: ``Software`` = "NovelAI", ``Description`` = prompt, ``Source`` = model and hash,
    ``Comment`` = JSON of the request (prompt, uc, seed, steps, scale, sampler, v4_prompt...)."""
    comment = texts.get("Comment")
    data = comment if isinstance(comment, dict) else json_object(comment) if comment else None
    software = str(texts.get("Software") or "")
    is_nai = software.strip().lower() == "novelai" or (
        data is not None and {"uc", "scale", "n_samples"} <= set(data)
    )
    if not is_nai:
        return None
    data = data or {}
    if comment and not data:
        problems.append(f"{source}: NovelAI Comment is not a JSON object")
    prompts = [data.get("prompt"), texts.get("Description")]
    negatives = [data.get("uc")]
    for key, out in (("v4_prompt", prompts), ("v4_negative_prompt", negatives)):
        caption = data.get(key, {}).get("caption", {}) if isinstance(data.get(key), dict) else {}
        if isinstance(caption, dict):
            out.append(caption.get("base_caption"))
            out += [
                c.get("char_caption")
                for c in as_list(caption.get("char_captions"))
                if isinstance(c, dict)
            ]
    used = {"prompt", "uc", "seed", "steps", "scale", "sampler", "width", "height"}
    used |= {"v4_prompt", "v4_negative_prompt", "signed_hash"}
    return GeneratorMetadata(
        tool="novelai",
        source=source,
        prompts=strings(prompts),
        negative_prompts=strings(negatives),
        seeds=tuple(s for s in (to_int(data.get("seed")),) if s is not None),
        models=strings([texts.get("Source")]),
        sampler=opt_text(data.get("sampler")),
        steps=to_int(data.get("steps")),
        cfg_scale=to_float(data.get("scale")),
        size=size_text(data.get("width"), data.get("height")),
        software=opt_text(software) if software else None,
        settings=setting_pairs(
            [(k, v) for k, v in data.items() if k not in used]
            + [(k, texts[k]) for k in ("Title", "Generation time") if k in texts]
            + ([("signed_hash", data["signed_hash"])] if "signed_hash" in data else [])
        ),
    )


def from_png_text(texts: PngTexts, problems: list[str]) -> GeneratorMetadata | None:
    """NovelAI's keywords, matched as written (``Software`` is how it is recognised)."""
    return parse_novelai(texts.exact, "png:text", problems)


PARSER = GeneratorParser(png_text=from_png_text)
