"""ComfyUI's ``prompt`` (API graph) and ``workflow`` (UI graph) JSON: PNG text chunks, or EXIF
``Make``/``Model`` in its WebP and animated writers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consentry.analyzers.provenance.fields import (
    json_object,
    opt_text,
    setting_pairs,
    strings,
    to_float,
    to_int,
)
from consentry.analyzers.provenance.generators.base import (
    GeneratorMetadata,
    GeneratorParser,
    PngTexts,
)

# ComfyUI node inputs that name model files (checkpoints, UNETs, LoRAs, VAEs, ...)
_COMFY_MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name", "base_ckpt_name", "vae_name")
_COMFY_TEXT_INPUTS = ("text", "text_g", "text_l", "prompt", "positive", "negative")


def parse_comfyui(
    prompt: str | None, workflow: str | None, source: str, problems: list[str]
) -> GeneratorMetadata | None:
    """ComfyUI's ``prompt`` (API graph: node id -> class_type, inputs) and/or ``workflow``."""
    graph = json_object(prompt) if prompt else None
    ui = json_object(workflow) if workflow else None
    if prompt and graph is None:
        problems.append(f"{source}: 'prompt' is not a JSON object")
    if workflow and ui is None:
        problems.append(f"{source}: 'workflow' is not a JSON object")
    nodes = {
        str(k): v
        for k, v in (graph or {}).items()
        if isinstance(v, dict) and isinstance(v.get("inputs"), dict)
    }
    if not nodes and not (ui and isinstance(ui.get("nodes"), list)):
        return None
    models: list[str] = []
    loras: list[str] = []
    seeds: list[int] = []
    positive: list[str] = []
    negative: list[str] = []
    texts: list[str] = []
    samplers: list[str] = []
    steps: int | None = None
    cfg: float | None = None
    for node in nodes.values():
        inputs = node["inputs"]
        for key in _COMFY_MODEL_INPUTS:
            if isinstance(inputs.get(key), str):
                models.append(inputs[key])
        if isinstance(inputs.get("lora_name"), str):
            loras.append(inputs["lora_name"])
        for key in ("seed", "noise_seed"):
            if (seed := to_int(inputs.get(key))) is not None:
                seeds.append(seed)
        if isinstance(inputs.get("sampler_name"), str):
            samplers.append(inputs["sampler_name"])
        steps = steps if steps is not None else to_int(inputs.get("steps"))
        cfg = cfg if cfg is not None else to_float(inputs.get("cfg"))
        for role, out in (("positive", positive), ("negative", negative)):
            link = inputs.get(role)
            if isinstance(link, list) and link:
                out += _comfy_text(nodes, str(link[0]))
        if "CLIPTextEncode" in str(node.get("class_type", "")):
            texts += [v for k in _COMFY_TEXT_INPUTS if isinstance(v := inputs.get(k), str)]
    if not nodes and ui is not None:  # UI graph only: widget values, roles unknown
        for node in ui.get("nodes", []):
            if not isinstance(node, dict):
                continue
            kind = str(node.get("type", ""))
            values = node.get("widgets_values")
            values = values if isinstance(values, list) else []
            if "CLIPTextEncode" in kind:
                texts += [v for v in values if isinstance(v, str)]
            elif "Loader" in kind and values and isinstance(values[0], str):
                (loras if "Lora" in kind else models).append(values[0])
            elif "KSampler" in kind and values and (seed := to_int(values[0])) is not None:
                seeds.append(seed)
    unassigned = [t for t in texts if t not in positive and t not in negative]
    return GeneratorMetadata(
        tool="comfyui",
        source=source,
        prompts=strings(positive + (unassigned if not positive and not negative else [])),
        negative_prompts=strings(negative),
        seeds=tuple(dict.fromkeys(seeds)),
        models=strings(models),
        loras=strings(loras),
        sampler=opt_text(samplers[0]) if samplers else None,
        steps=steps,
        cfg_scale=cfg,
        settings=setting_pairs(
            [("graph_nodes", str(len(nodes)))]
            + [("text_role_unknown", t) for t in unassigned if positive or negative]
        ),
    )


def _comfy_text(nodes: Mapping[str, Any], node_id: str, depth: int = 0) -> list[str]:
    """Texts that feed a conditioning input, following links through intermediate nodes."""
    node = nodes.get(node_id)
    if node is None or depth > 8:
        return []
    inputs = node["inputs"]
    found = [v for k in _COMFY_TEXT_INPUTS if isinstance(v := inputs.get(k), str)]
    if found:
        return found
    out: list[str] = []
    for value in inputs.values():  # e.g. ConditioningCombine, a text primitive feeding "text"
        if isinstance(value, list) and value and isinstance(value[0], str | int):
            out += _comfy_text(nodes, str(value[0]), depth + 1)
    return out


def from_png_text(texts: PngTexts, problems: list[str]) -> GeneratorMetadata | None:
    """PNG ``prompt`` and ``workflow`` chunks (ComfyUI's PNG writer)."""
    return parse_comfyui(
        texts.get("prompt"), texts.get("workflow"), "png:prompt/workflow", problems
    )


def from_exif(exif: Mapping[str, str], problems: list[str]) -> GeneratorMetadata | None:
    """EXIF ``Make``/``Model``/``ImageDescription`` holding ``prompt:{...}``/``workflow:{...}``."""
    # ComfyUI's WebP/animated writers: Make = "workflow:{json}", Model = "prompt:{json}"
    prompt = workflow = None
    for name in ("Make", "Model", "ImageDescription"):
        value = exif.get(name, "")
        if value.startswith("prompt:"):
            prompt = value[len("prompt:") :]
        elif value.startswith("workflow:"):
            workflow = value[len("workflow:") :]
    if not (prompt or workflow):
        return None
    return parse_comfyui(prompt, workflow, "exif:Make/Model", problems)


PARSER = GeneratorParser(png_text=from_png_text, exif=from_exif)
