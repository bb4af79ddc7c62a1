"""Pair verification: is a shortlisted pair of pictures an edit and its source? RANSAC alignment
(align.py), then change masks in both pictures' frames (change_mask.py). A pair is *related*
when it aligns, the unchanged part is the same pixels, and the changes are an edit (a few
regions, at most MAX_CHANGED_FRACTION of the shared view), not another shot of the scene.

Runs in the pass's workers; the result of each pair is cached in the store under ``VERSION``.
Which related pairs become links is decided afterwards (choice.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import cv2
import numpy as np

from consentry.derivation import features as feat
from consentry.derivation.align import Alignment, align, invert
from consentry.derivation.change_mask import ChangeMask, carry, change_mask, mask_to_png
from consentry.derivation.evidence import Pictures
from consentry.execution import Lost
from consentry.records.features import ImageFeatures
from consentry.records.problems import ItemError
from consentry.store.links_store import ImageRef, PairRecord

# of the cached pair checks; 5: template shots, 6: small pictures (issue 13)
VERSION = f"6.f{feat.VERSION}"
# A derived picture keeps most of its source: pairs differing over more of their shared view
# than this are different pictures of a similar scene (or of the same aligned face), not edits.
MAX_CHANGED_FRACTION = 0.6
MIN_SHARED_VIEW = 0.3  # each picture must show at least this share of the other
# What is left unchanged must be the *same pixels*, not a look-alike: fine detail correlates
# (>= MIN_DETAIL_AGREEMENT) and colours agree closely (90th percentile difference, away from
# the changed regions, <= MAX_RESIDUAL of 255). Pictures generated from one template (same
# pose, clothes, studio) and photos of one sitter under another light fail these; resized,
# re-encoded copies pass. Tuned on benchmark seed 1 (bench/derivation.py).
MIN_DETAIL_AGREEMENT = 0.75
MAX_RESIDUAL = 12.0
# An edit changes one region, or a few: when the changes of a pair are spread over many separate
# spots with no dominant one, the two are another photo of the same scene (a fixed camera, a
# sitter who moved, other light), not an edit. Measured on benchmark seed 1: such pairs of
# unrelated photos (Yale B / ORL series) had 5-20 regions, the largest holding 19-81 % of the
# changed area; true edits a median of 2 regions, the largest holding 99 %. Tiny changed areas
# are exempt: there a few specks of noise are as many regions as the edit.
SCATTERED_REGIONS = 8
SCATTERED_LARGEST = 0.7
SCATTERED_MIN_CHANGED = 0.05
# Another shot from one template (same pose, backdrop and clothes; another person) aligns, and
# its plain backdrop agrees, but the body, the folds and the shading differ everywhere: the
# rest is not quite the same pixels (detail agreement under SAME_PIXELS_AGREEMENT) and the
# changes fall in a few regions (face, arms, legs) with no dominant one. An edit changes one
# region, or a few with one dominant. So with imperfect agreement, TEMPLATE_REGIONS regions
# suffice for "scattered". Measured on benchmark seed 1 (tuning): template shots of openpeople
# persons P001-P005 that aligned had 6-7 regions, the largest holding 35-41 % of the change,
# agreement 0.75-0.76 (and the demo's P003/P006 pair, 4 regions, 68 %, 0.83); of the 360
# true edits related there, 1 has agreement < 0.9, >= 3 regions, the largest < 70 % and
# >= 5 % changed (an inpaint, 5 regions, largest 53 %, agreement 0.90).
SAME_PIXELS_AGREEMENT = 0.9
TEMPLATE_REGIONS = 3
# Pairs that did not align get a second try when one picture is this small (long side, file
# pixels) and the other SMALL_RATIO times larger (align_small). Benchmark seed 1 (tuning): 4 of
# 16 face swaps reduced to 0.4-0.6x (about 100-150 px) did not align at the first try.
SMALL_SIDE = 200
SMALL_RATIO = 1.5


@dataclass
class PairTask:
    """One pair to verify, with where to read both pictures (sorted by sha256: a < b)."""

    a: ImageFeatures
    b: ImageFeatures
    ref_a: ImageRef
    ref_b: ImageRef


# The decoded pictures of this worker process, kept across the chunks it is given.
_WORKER_PICTURES: Pictures | None = None


def start_worker() -> None:
    """The pass's worker set-up (its ``WorkerInit``): an empty cache of decoded pictures."""
    global _WORKER_PICTURES
    _WORKER_PICTURES = Pictures({})


def verify_chunk(tasks: list[PairTask]) -> list[PairRecord]:
    """Verify a chunk of pairs in a worker set up by ``start_worker``."""
    pictures = _WORKER_PICTURES
    assert pictures is not None, "verify_chunk runs in a worker set up by start_worker"
    for t in tasks:
        pictures.refs[t.ref_a.sha256] = t.ref_a
        pictures.refs[t.ref_b.sha256] = t.ref_b
    return [verify_pair(t.a, t.b, pictures) for t in tasks]


def chunk_lost(tasks: list[PairTask], lost: Lost) -> list[PairRecord]:
    """A chunk whose worker died or hung on it, also alone: its pairs are recorded as not shown
    to be related, with the reason (as for a picture that cannot be read), and the pass goes on."""
    error = f"{lost.code.value}: {lost.message}"
    return [
        PairRecord(t.a.sha256, t.b.sha256, VERSION, False, json.dumps({"error": error}))
        for t in tasks
    ]


def verify_pair(a: ImageFeatures, b: ImageFeatures, pictures: Pictures) -> PairRecord:
    """Align A onto B and compare them; the record says whether they are related."""
    alignment = align(a, b)
    if alignment is None:
        alignment = _align_small(a, b, pictures)
    if alignment is None:
        return PairRecord(a.sha256, b.sha256, VERSION, False, json.dumps({"aligned": False}))
    try:
        pic_a, pic_b = pictures.get(a.sha256), pictures.get(b.sha256)
    except ItemError as exc:
        return PairRecord(a.sha256, b.sha256, VERSION, False,
                          json.dumps({"aligned": True, "error": exc.message}))  # fmt: skip
    a_to_b = alignment.matrix
    b_to_a = invert(a_to_b)
    mask_a = change_mask(pic_a, pic_b, b_to_a)  # A's pixels, B warped onto them
    mask_b = carry(mask_a, a_to_b, (pic_b.shape[1], pic_b.shape[0]))  # the same, in B's frame
    a_shows_b = float(mask_b.valid.mean())  # share of B's picture that A covers
    b_shows_a = float(mask_a.valid.mean())
    related = (
        mask_a.changed_fraction <= MAX_CHANGED_FRACTION
        and mask_b.changed_fraction <= MAX_CHANGED_FRACTION
        and min(a_shows_b, b_shows_a) >= MIN_SHARED_VIEW
        and mask_a.agreement >= MIN_DETAIL_AGREEMENT
        and mask_a.residual <= MAX_RESIDUAL
        and not _scattered(mask_a)
    )
    payload = {
        "aligned": True,
        "a_to_b": [round(float(v), 6) for v in a_to_b.ravel()],
        "mirrored": alignment.mirrored,
        "inliers": alignment.inliers,
        "matches": alignment.matches,
        "a_shows_b": round(a_shows_b, 4),
        "b_shows_a": round(b_shows_a, 4),
        "changed_a": round(mask_a.changed_fraction, 4),
        "changed_b": round(mask_b.changed_fraction, 4),
        "agreement": round(mask_a.agreement, 4),
        "residual": round(mask_a.residual, 2),
        "largest_region_share": round(mask_a.largest_share, 4),
        "boxes_a": mask_a.boxes,
        "boxes_b": mask_b.boxes,
    }
    return PairRecord(
        a.sha256,
        b.sha256,
        VERSION,
        related,
        json.dumps(payload),
        mask_to_png(mask_a.mask) if related else None,
        mask_to_png(mask_b.mask) if related else None,
    )


def _align_small(a: ImageFeatures, b: ImageFeatures, pictures: Pictures) -> Alignment | None:
    """A second try for a small picture (a copy reduced to SMALL_SIDE px or less, like a face
    swap posted small): enlarged to the work size it is blurred, and its features match the
    sharp larger picture's poorly. The larger picture is brought to the same blur (reduced to
    the small one's size and enlarged again, in its own work frame) and matched once more."""
    small, large = (a, b) if max(a.width, a.height) <= max(b.width, b.height) else (b, a)
    side = max(small.width, small.height)
    if side > SMALL_SIDE or max(large.width, large.height) < SMALL_RATIO * side:
        return None
    try:
        rgb = pictures.get(large.sha256)
    except ItemError:
        return None
    h, w = rgb.shape[:2]
    k = side / max(h, w)
    reduced = cv2.resize(rgb, (max(1, round(w * k)), max(1, round(h * k))),
                         interpolation=cv2.INTER_AREA)  # fmt: skip
    blurred = cv2.resize(reduced, (w, h), interpolation=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(blurred, cv2.COLOR_RGB2GRAY)
    points, descriptors = feat.orb_features(grey)
    mirror_points, mirror_descriptors = feat.orb_features(np.ascontiguousarray(grey[:, ::-1]))
    if len(mirror_points):
        mirror_points[:, 0] = grey.shape[1] - 1 - mirror_points[:, 0]
    like = replace(large, points=points, descriptors=descriptors, mirror_points=mirror_points,
                   mirror_descriptors=mirror_descriptors)  # fmt: skip
    return align(a, like) if large is b else align(like, b)


def _scattered(change: ChangeMask) -> bool:
    """Changes spread over many regions with no dominant one: another shot, not an edit; fewer
    regions suffice when the rest is not quite the same pixels (another template shot)."""
    regions = SCATTERED_REGIONS if change.agreement >= SAME_PIXELS_AGREEMENT else TEMPLATE_REGIONS
    return (
        change.changed_fraction >= SCATTERED_MIN_CHANGED
        and len(change.boxes) >= regions
        and change.largest_share < SCATTERED_LARGEST
    )


__all__ = [
    "MAX_CHANGED_FRACTION",
    "PairTask",
    "SCATTERED_LARGEST",
    "SAME_PIXELS_AGREEMENT",
    "SCATTERED_REGIONS",
    "TEMPLATE_REGIONS",
    "VERSION",
    "chunk_lost",
    "start_worker",
    "verify_chunk",
    "verify_pair",
]
