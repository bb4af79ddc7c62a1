"""Pictures of each link for review: source.png, derived.png, and mask.png (the change mask over
the derived picture; reports embed it), in CASE_DIR/derivation/<derived>_from_<source>/.

The blur rule is thumbnails.py's: a picture is drawn sharp only when its explicit label is
``none``; otherwise it is pixelated and blurred *before* anything is encoded. The mask overlay is
drawn on the already obscured derived picture, so outlining a region never reveals it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from consentry.derivation.change_mask import mask_from_png
from consentry.derivation.evidence import read_evidence
from consentry.derivation.features import work_picture
from consentry.derivation.verify import VERSION
from consentry.execution import Executor, Lost, WorkerInit
from consentry.media.thumbnails import must_blur, obscure
from consentry.records.problems import ItemError
from consentry.store.links_store import ImageRef, LinkRecord, LinksStore

DERIVATION_DIR = "derivation"
RENDER_SIDE = 384
MASK_COLOUR = (255, 0, 64)


def render_dir_name(link: LinkRecord) -> str:
    return f"{DERIVATION_DIR}/{link.derived_sha256[:16]}_from_{link.source_sha256[:16]}"


def _labels_key(labels: dict[str, str | None], link: LinkRecord) -> str:
    source = labels.get(link.source_sha256) or "unknown"
    return f"{source},{labels.get(link.derived_sha256) or 'unknown'}"


@dataclass(frozen=True)
class _RenderTask:
    link: LinkRecord
    source: ImageRef
    derived: ImageRef
    mask_png: bytes | None
    blur_source: bool
    blur_derived: bool
    folder: Path


def render_links(
    ls: LinksStore,
    case_dir: Path,
    refs: dict[str, ImageRef],
    executor: Executor,
    init: WorkerInit | None = None,
) -> int:
    """Render links that have no render yet, or whose pictures' labels changed since (on the
    pass's executor, whose workers ``init`` set up)."""
    labels = ls.explicit_labels()
    masks = {(p.sha_a, p.sha_b): p for p in ls.related_pairs(VERSION)}
    tasks: list[tuple[_RenderTask, str, str]] = []
    for link in ls.links():
        key = _labels_key(labels, link)
        rel = render_dir_name(link)
        if link.render_dir == rel and link.render_labels == key and (case_dir / rel).is_dir():
            continue
        pair = masks.get(tuple(sorted((link.derived_sha256, link.source_sha256))))  # type: ignore[arg-type]
        if pair is None or link.derived_sha256 not in refs or link.source_sha256 not in refs:
            continue
        mask_png = pair.mask_a if pair.sha_a == link.derived_sha256 else pair.mask_b
        task = _RenderTask(
            link,
            refs[link.source_sha256],
            refs[link.derived_sha256],
            mask_png,
            must_blur(labels.get(link.source_sha256)),
            must_blur(labels.get(link.derived_sha256)),
            case_dir / rel,
        )
        tasks.append((task, rel, key))
    # a link per derived picture: its sha256 names the task a result belongs to
    where = {task.link.derived_sha256: (rel, key) for task, rel, key in tasks}
    results = executor.map(_render_one, [t for t, _, _ in tasks], init=init, on_lost=_not_rendered)
    count = 0
    for derived, ok in results:  # recorded as they come: a killed pass keeps what it drew
        if ok:
            rel, key = where[derived]
            ls.set_render(derived, rel, key)
            count += 1
    return count


def _render_one(task: _RenderTask) -> tuple[str, bool]:
    """Draw one link's pictures; (its derived picture's sha256, whether they were drawn)."""
    derived_sha = task.link.derived_sha256
    try:
        source = work_picture(read_evidence(task.source)).rgb
        derived = work_picture(read_evidence(task.derived)).rgb
    except ItemError:
        return derived_sha, False  # the evidence changed or vanished since the scan
    mask = mask_from_png(task.mask_png) if task.mask_png else np.zeros(derived.shape[:2], bool)
    _write_png(task.folder / "source.png", _shown(source, task.blur_source))
    shown = _shown(derived, task.blur_derived)
    _write_png(task.folder / "derived.png", shown)
    _write_png(task.folder / "mask.png", _overlay(shown, mask))
    return derived_sha, True


def _not_rendered(task: _RenderTask, lost: Lost) -> tuple[str, bool]:
    """A link whose worker died or hung drawing it: no render now; the next pass tries again
    (``render_dir`` stays unset)."""
    return task.link.derived_sha256, False


def _shown(rgb: np.ndarray, blur: bool) -> Image.Image:
    img = Image.fromarray(rgb)
    img.thumbnail((RENDER_SIDE, RENDER_SIDE), Image.Resampling.BILINEAR)
    return obscure(img) if blur else img


def _overlay(shown: Image.Image, mask: np.ndarray) -> Image.Image:
    """The (possibly obscured) derived picture, dimmed outside the mask, the mask outlined."""
    base = np.asarray(shown.convert("RGB")).astype(np.float32)
    m = cv2.resize(mask.astype(np.uint8), shown.size, interpolation=cv2.INTER_NEAREST) > 0
    out = base * 0.45
    out[m] = base[m] * 0.5 + np.array(MASK_COLOUR, np.float32) * 0.5
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    result = np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
    cv2.drawContours(result, contours, -1, MASK_COLOUR, 2)
    return Image.fromarray(result)


def _write_png(path: Path, img: Image.Image) -> None:
    # write then rename: a killed pass never leaves a half-written file under the final name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            img.convert("RGB").save(fh, "PNG", compress_level=1)  # fast; the report embeds it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["DERIVATION_DIR", "render_dir_name", "render_links"]
