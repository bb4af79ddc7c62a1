"""A video's review thumbnail: a contact sheet of its keyframes, under the image blur rule.

The sheet is a grid of up to ``MAX_TILES`` keyframes (evenly chosen from those analysed, in
time order), each ``TILE_SIDE`` px on its long side. It is written where an image's thumbnail
goes (``thumbs/<sha[:2]>/<sha>.jpg``) and is rendered sharp only when every keyframe's
explicit label is ``none`` (``thumbnails.must_blur``): one frame labelled anything else, or
not analysed, and every tile is pixelated and blurred before encoding, as image thumbnails are.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from consentry.media.thumbnails import SHARP_LABEL, THUMB_DIR, must_blur, obscure
from consentry.records.items import ThumbnailRecord

MAX_TILES = 16
TILE_SIDE = 128
GAP = 2
BACKGROUND = (24, 24, 24)


def sheet_label(labels: Sequence[str | None]) -> str | None:
    """The label the sheet is rendered for: ``none`` only when every frame's is ``none``."""
    if labels and all(label == SHARP_LABEL for label in labels):
        return SHARP_LABEL
    for label in labels:
        if label != SHARP_LABEL:
            return label
    return None


def pick(n: int, limit: int = MAX_TILES) -> list[int]:
    """Indices of ``limit`` of ``n`` frames, evenly spread, first and last included."""
    if n <= limit:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})


def render_sheet(
    frames: Sequence[np.ndarray], labels: Sequence[str | None]
) -> tuple[Image.Image, bool]:
    """The sheet and whether it is blurred. ``labels``: one explicit label per frame."""
    if not frames:
        raise ValueError("no frame for a contact sheet")
    blurred = must_blur(sheet_label(labels))
    chosen = [frames[i] for i in pick(len(frames))]
    tiles = []
    for rgb in chosen:
        tile = Image.fromarray(np.ascontiguousarray(rgb))
        tile.thumbnail((TILE_SIDE, TILE_SIDE), Image.Resampling.BILINEAR)
        tiles.append(obscure(tile) if blurred else tile)
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    sheet = Image.new(
        "RGB", (cols * cell_w + (cols - 1) * GAP, rows * cell_h + (rows - 1) * GAP), BACKGROUND
    )
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        x = c * (cell_w + GAP) + (cell_w - tile.width) // 2
        y = r * (cell_h + GAP) + (cell_h - tile.height) // 2
        sheet.paste(tile.convert("RGB"), (x, y))
    return sheet, blurred


def write_contact_sheet(
    case_dir: Path,
    sha256: str,
    frames: Sequence[np.ndarray],
    labels: Sequence[str | None],
    video_label: str | None = None,
) -> ThumbnailRecord:
    """Write the sheet; ``video_label`` (the worst frame's label) is what the record says."""
    sheet, blurred = render_sheet(frames, labels)
    rel = Path(THUMB_DIR) / sha256[:2] / f"{sha256}.jpg"
    path = case_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    # write then rename: a killed scan never leaves a half-written sheet under the final name
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            sheet.save(fh, "JPEG", quality=85)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    label = video_label if video_label is not None else sheet_label(labels)
    return ThumbnailRecord(sha256, rel.as_posix(), blurred, label or "unknown")


__all__ = ["MAX_TILES", "pick", "render_sheet", "sheet_label", "write_contact_sheet"]
