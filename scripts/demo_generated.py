"""Harmless "AI-generated" files for the demo case: PNGs that carry the metadata image generators
write (AUTOMATIC1111 ``parameters``, ComfyUI ``prompt``/``workflow``), made from a synthetic
person's photo. The scan's provenance analyzer reads them as ``indicated`` and keeps the prompt,
seed and model name as evidence. The prompts are mundane on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, PngImagePlugin

A1111 = (
    "portrait photo of a person on a beach, golden hour\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.55"
)

COMFYUI_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {"seed": 271828, "steps": 20, "cfg": 7, "sampler_name": "euler"},
    },
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
    },
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a person in a red coat in a snowy street"},
    },
}


def add_generated_images(photo: Path, folder: Path) -> list[Path]:
    """Write two generator-tagged PNGs derived from ``photo`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(photo) as im:
        picture = im.convert("RGB")
    picture = picture.resize((512, round(512 * picture.height / picture.width)))
    written = []
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    path = folder / "00017-3141592653.png"  # A1111's file naming: counter-seed
    picture.save(path, pnginfo=info)
    written.append(path)
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(COMFYUI_PROMPT))
    info.add_text("workflow", json.dumps({"nodes": [], "version": 0.4}))
    path = folder / "ComfyUI_00042_.png"
    picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(path, pnginfo=info)
    written.append(path)
    return written
