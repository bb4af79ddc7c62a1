"""Pictures of each link for review: source, derived, and the change mask over the derived
picture, in CASE_DIR/derivation/<derived>_from_<source>/.

The blur rule is thumbnails.py's: a picture is drawn sharp only when its explicit label is
``none``; otherwise it is pixelated and blurred *before* anything is encoded. The mask overlay is
drawn on the already obscured derived picture, so outlining a region never reveals it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from ..problems import ItemError
from ..store.links_store import ImageRef, LinkRecord, LinksStore
from ..thumbnails import must_blur, obscure
from .features import work_picture
from .link_pass import mask_from_png, read_evidence

DERIVATION_DIR = "derivation"
RENDER_SIDE = 384
MASK_COLOUR = (255, 0, 64)


def render_dir_name(link: LinkRecord) -> str:
    return f"{DERIVATION_DIR}/{link.derived_sha256[:16]}_from_{link.source_sha256[:16]}"


def _labels_key(labels: dict[str, str | None], link: LinkRecord) -> str:
    source = labels.get(link.source_sha256) or "unknown"
    return f"{source},{labels.get(link.derived_sha256) or 'unknown'}"


def render_links(ls: LinksStore, case_dir: Path, refs: dict[str, ImageRef]) -> int:
    """Render links that have no render yet, or whose pictures' labels changed since."""
    labels = ls.explicit_labels()
    masks = {(p.sha_a, p.sha_b): p for p in ls.related_pairs(_version())}
    count = 0
    for link in ls.links():
        key = _labels_key(labels, link)
        rel = render_dir_name(link)
        if link.render_dir == rel and link.render_labels == key and (case_dir / rel).is_dir():
            continue
        pair = masks.get(tuple(sorted((link.derived_sha256, link.source_sha256))))  # type: ignore[arg-type]
        if pair is None or link.derived_sha256 not in refs or link.source_sha256 not in refs:
            continue
        derived_is_a = pair.sha_a == link.derived_sha256
        mask_png = pair.mask_a if derived_is_a else pair.mask_b
        try:
            source = work_picture(read_evidence(refs[link.source_sha256])).rgb
            derived = work_picture(read_evidence(refs[link.derived_sha256])).rgb
        except ItemError:
            continue
        mask = mask_from_png(mask_png) if mask_png else np.zeros(derived.shape[:2], bool)
        out = case_dir / rel
        blur_source = must_blur(labels.get(link.source_sha256))
        blur_derived = must_blur(labels.get(link.derived_sha256))
        _write_png(out / "source.png", _shown(source, blur_source))
        shown = _shown(derived, blur_derived)
        _write_png(out / "derived.png", shown)
        _write_png(out / "mask.png", _overlay(shown, mask))
        ls.set_render(link.derived_sha256, rel, key)
        count += 1
    return count


def _version() -> str:
    from .link_pass import VERSION

    return VERSION


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
            img.convert("RGB").save(fh, "PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["DERIVATION_DIR", "render_dir_name", "render_links"]
