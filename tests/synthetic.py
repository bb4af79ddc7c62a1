"""Harmless synthetic test images (gradients, noise, shapes): never anything explicit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def photo_like(seed: int, width: int = 160, height: int = 120) -> Image.Image:
    """A textured picture with enough structure for a high PDQ quality."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            (np.sin(x / (5 + seed % 7)) + np.cos(y / (4 + seed % 5))) * 60 + 128,
            (x * 255 / width + seed * 13) % 256,
            (y * 255 / height + seed * 29) % 256,
        ],
        axis=-1,
    )
    noise = rng.normal(0, 12, base.shape)
    img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = int(rng.integers(0, width - 10)), int(rng.integers(0, height - 10))
        draw.ellipse(
            [x0, y0, x0 + int(rng.integers(8, width // 2)), y0 + int(rng.integers(8, height // 2))],
            fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
        )
    return img


def write_jpeg(path: Path, seed: int, **kwargs: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    photo_like(seed, **kwargs).save(path, "JPEG", quality=90)
    return path
