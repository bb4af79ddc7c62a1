"""InvokeAI's PNG text: ``invokeai_metadata`` JSON (3.x+), ``sd-metadata`` JSON and the ``Dream``
command line (2.x)."""

from __future__ import annotations

import re
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


def parse_invokeai(
    metadata: str | None,
    sd_metadata: str | None,
    dream: str | None,
    source: str,
    problems: list[str],
) -> GeneratorMetadata | None:
    """InvokeAI 3.x+ ``invokeai_metadata``; 2.x ``sd-metadata`` JSON and ``Dream`` command."""
    if metadata:
        data = json_object(metadata)
        if data is None:
            problems.append(f"{source}: invokeai_metadata is not a JSON object")
        else:
            model = data.get("model")
            names = (
                [model.get("model_name") or model.get("name")]
                if isinstance(model, dict)
                else [model]
            )
            hashes = [model.get("hash")] if isinstance(model, dict) else []
            loras = [
                (lora.get("model") or lora.get("lora") or {}).get("model_name")
                or (lora.get("model") or lora.get("lora") or {}).get("name")
                for lora in as_list(data.get("loras"))
                if isinstance(lora, dict)
            ]
            used = {"positive_prompt", "negative_prompt", "seed", "model", "steps"}
            used |= {"cfg_scale", "scheduler", "width", "height", "app_version", "loras"}
            return GeneratorMetadata(
                tool="invokeai",
                source=f"{source}_metadata",
                prompts=strings([data.get("positive_prompt")]),
                negative_prompts=strings([data.get("negative_prompt")]),
                seeds=tuple(s for s in (to_int(data.get("seed")),) if s is not None),
                models=strings(names),
                model_hashes=strings(hashes),
                loras=strings(loras),
                sampler=opt_text(data.get("scheduler")),
                steps=to_int(data.get("steps")),
                cfg_scale=to_float(data.get("cfg_scale")),
                size=size_text(data.get("width"), data.get("height")),
                software=opt_text(data.get("app_version")),
                settings=setting_pairs((k, v) for k, v in data.items() if k not in used),
            )
    if sd_metadata:
        data = json_object(sd_metadata)
        if data is None:
            problems.append(f"{source}: sd-metadata is not a JSON object")
        else:
            image: dict[str, Any] = data["image"] if isinstance(data.get("image"), dict) else {}
            prompt = image.get("prompt")
            prompts = (
                [p.get("prompt") for p in prompt if isinstance(p, dict)]
                if isinstance(prompt, list)
                else [prompt]
            )
            return GeneratorMetadata(
                tool="invokeai",
                source=f"{source}:sd-metadata",
                prompts=strings(prompts),
                seeds=tuple(s for s in (to_int(image.get("seed")),) if s is not None),
                models=strings([data.get("model_weights")]),
                model_hashes=strings([data.get("model_hash")]),
                sampler=opt_text(image.get("sampler")),
                steps=to_int(image.get("steps")),
                cfg_scale=to_float(image.get("cfg_scale")),
                size=size_text(image.get("width"), image.get("height")),
                software=opt_text(data.get("app_version")),
            )
    if dream:
        quoted = re.match(r'\s*"((?:\\.|[^"\\])*)"', dream)
        seed = re.search(r"(?:^|\s)-S\s*(\d+)", dream)
        return GeneratorMetadata(
            tool="invokeai",
            source=f"{source}:Dream",
            prompts=strings([quoted.group(1) if quoted else None]),
            seeds=(int(seed.group(1)),) if seed else (),
            settings=setting_pairs([("Dream", dream)]),
        )
    return None


def from_png_text(texts: PngTexts, problems: list[str]) -> GeneratorMetadata | None:
    """InvokeAI's PNG chunks, the newest layout first."""
    return parse_invokeai(
        texts.get("invokeai_metadata"),
        texts.get("sd-metadata"),
        texts.get("Dream"),
        "png:invokeai",
        problems,
    )


PARSER = GeneratorParser(png_text=from_png_text)
