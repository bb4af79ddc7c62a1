"""Fooocus's own metadata scheme (flat JSON). Fooocus writes it, or AUTOMATIC1111's infotext, into
the ``parameters`` text AUTOMATIC1111 uses too: ``parameters`` tells the two apart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consentry.analyzers.provenance.fields import (
    as_list,
    opt_text,
    setting_pairs,
    strings,
    to_float,
    to_int,
)
from consentry.analyzers.provenance.generators.base import GeneratorMetadata


def looks_fooocus(data: Mapping[str, Any], scheme: str) -> bool:
    return scheme == "fooocus" or any(
        k in data for k in ("full_prompt", "base_model", "fooocus_v2_expansion")
    )


def parse_fooocus(data: Mapping[str, Any], source: str) -> GeneratorMetadata:
    """Fooocus's own scheme (``modules/meta_parser.py`` FooocusMetadataParser): flat JSON."""
    prompts = [data.get("prompt")] + list(as_list(data.get("full_prompt")))
    negatives = [data.get("negative_prompt")] + list(as_list(data.get("full_negative_prompt")))
    models = [data.get("base_model"), data.get("refiner_model")]
    loras = [v for k, v in data.items() if str(k).startswith("lora_combined_")]
    used = {"prompt", "full_prompt", "negative_prompt", "full_negative_prompt", "base_model"}
    used |= {"refiner_model", "seed", "sampler", "steps", "guidance_scale", "resolution"}
    used |= {"version", "base_model_hash"}
    return GeneratorMetadata(
        tool="fooocus",
        source=source,
        prompts=strings(prompts),
        negative_prompts=strings(negatives),
        seeds=tuple(s for s in (to_int(data.get("seed")),) if s is not None),
        models=strings(m for m in models if m not in (None, "None")),
        model_hashes=strings([data.get("base_model_hash")]),
        loras=strings(loras),
        sampler=opt_text(data.get("sampler")),
        steps=to_int(data.get("steps")),
        cfg_scale=to_float(data.get("guidance_scale")),
        size=opt_text(data.get("resolution")),
        software=opt_text(data.get("version")),
        settings=setting_pairs((k, v) for k, v in data.items() if k not in used),
    )
