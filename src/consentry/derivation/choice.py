"""Link choice: which related pairs become links, and what each link says. For each related pair
the direction from the evidence (direction.py); then each image gets at most one source - the
most original picture it still matches (``pick_sources``) - and no cycles; then the link's
record: the transform, the changed regions, and the face verdict (face_swap.py).

Pure decisions on what verification (verify.py) left in the store: nothing here reads the
evidence, so links are re-chosen cheaply whenever ``RULES`` or the case's images change."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from consentry.derivation.align import describe, file_matrix, invert
from consentry.derivation.change_mask import mask_from_png
from consentry.derivation.direction import (
    MIN_SCALE_GAP,
    RESOLUTION_WEIGHT,
    Cue,
    decide,
    family_cue,
    field_of_view_cue,
    generator_cue,
    metadata_cue,
    resolution_cue,
)
from consentry.derivation.face_swap import FaceBox, judge, to_work
from consentry.derivation.verify import VERSION
from consentry.records.features import ImageFeatures
from consentry.store.links_store import FaceOfImage, LinkRecord, PairRecord

# of the link choice and direction (no cache: links are re-chosen when it changes); 7: copies
# of unknown direction, 8: no link for another shot of another person, 9: no family cue
# between copies (issue 13)
RULES = "9"
COVER_TIE = 0.02  # share of the derived picture; below: "shows all of it" equally
CHAIN_COVERAGE = 0.5  # share of C's changes D must carry for C to be D's source
DECIDED = 0.51  # a picture has a source of its own when any evidence says so (0.5: none)
# Share changed at most between two pictures that are copies of each other (a resized copy and
# its original: 0-1.7 % on benchmark seed 1, tuning; 3 of the 357 true edits related there
# showed less than 2 %, a faint recolour or inpaint the change mask mostly missed).
COPY_CHANGED = 0.02


@dataclass
class Candidate:
    """A related pair as a possible link, in the direction its evidence points."""

    derived: str
    source: str
    changed: float
    inliers: int
    confidence: float
    pair: PairRecord
    derived_is_a: bool
    evidence: list[dict[str, object]]
    covers: float = 1.0  # share of the derived picture the source shows
    # other pictures it matches that nothing shows to be derived either: any of them may be the
    # original (two copies of one photo with no direction evidence between them look the same)
    alternatives: tuple[str, ...] = ()


def choose_links(evidence: PairEvidence, features: dict[str, ImageFeatures]) -> list[Candidate]:
    """Direction for each related pair, then at most one source per image, without cycles."""
    pixels = {sha: float(f.width * f.height) for sha, f in features.items()}
    return pick_sources(directed_candidates(evidence, features), pixels)


def _a_per_b(body: dict[str, Any], fa: ImageFeatures, fb: ImageFeatures) -> float:
    """A's file pixels per B file pixel of the same scene, from a related pair's payload."""
    a_to_b = np.array(body["a_to_b"], dtype=np.float64).reshape(2, 3)
    work_scale = float(np.hypot(a_to_b[0, 0], a_to_b[1, 0]))  # B work px per A work px
    return fb.work_scale / (work_scale * fa.work_scale)


class PairEvidence:
    """The related pairs (payloads read once) and what their direction rests on besides the
    resolution cue: field of view, metadata, generator provenance, and how the pictures
    related to both differ from each."""

    def __init__(
        self,
        related: Sequence[PairRecord],
        exif: dict[str, dict[str, str]],
        verdicts: dict[str, str] | None = None,
    ) -> None:
        self.pairs = [(p, json.loads(p.payload)) for p in related]
        self.exif = exif
        self.verdicts = verdicts or {}
        # how much of each picture differs from each related partner, in its own frame
        self.differs: dict[str, dict[str, float]] = {}
        for p, body in self.pairs:
            self.differs.setdefault(p.sha_a, {})[p.sha_b] = float(body["changed_a"])
            self.differs.setdefault(p.sha_b, {})[p.sha_a] = float(body["changed_b"])

    def common(self, a: str, b: str) -> list[tuple[float, float]]:
        partners = (self.differs[a].keys() & self.differs[b].keys()) - {a, b}
        return [(self.differs[x][a], self.differs[x][b]) for x in sorted(partners)]

    def cues(self, p: PairRecord, body: dict[str, Any]) -> list[Cue | None]:
        return [
            field_of_view_cue(body["a_shows_b"], body["b_shows_a"]),
            metadata_cue(self.exif.get(p.sha_a, {}), self.exif.get(p.sha_b, {})),
            generator_cue(self.verdicts.get(p.sha_a), self.verdicts.get(p.sha_b)),
            # two copies of each other carry no edit of their own: what their common partners
            # differ by is then resolution (a reduced copy hides differences), not an edit
            None
            if max(float(body["changed_a"]), float(body["changed_b"])) <= COPY_CHANGED
            else family_cue(self.common(p.sha_a, p.sha_b)),
        ]


def profiles_needed(evidence: PairEvidence, features: dict[str, ImageFeatures]) -> set[str]:
    """Pictures the resolution cue must be asked about: the larger of each related pair whose
    sizes differ enough (direction.MIN_SCALE_GAP) and whose direction the cue could still turn
    (the other cues add up to no more than its weight), when not measured yet. The profile
    needs a full-resolution decode (~100 ms for a 12 MP photo): evidence that cannot change the
    conclusion is not worth it."""
    needed = set()
    for p, body in evidence.pairs:
        fa, fb = features[p.sha_a], features[p.sha_b]
        a_per_b = _a_per_b(body, fa, fb)
        if max(a_per_b, 1 / a_per_b) < MIN_SCALE_GAP:
            continue
        larger = fa if a_per_b > 1 else fb
        if larger.profile is not None:
            continue
        others = sum(c.score for c in evidence.cues(p, body) if c is not None)
        if abs(others) <= RESOLUTION_WEIGHT:
            needed.add(larger.sha256)
    return needed


def directed_candidates(
    evidence: PairEvidence, features: dict[str, ImageFeatures]
) -> list[Candidate]:
    """Each related pair as a candidate link, in the direction its evidence points."""
    candidates: list[Candidate] = []
    for p, body in evidence.pairs:
        fa, fb = features[p.sha_a], features[p.sha_b]
        a_per_b = _a_per_b(body, fa, fb)
        resolution = resolution_cue(
            a_per_b, fa.profile, fb.profile, fa.profile_scale, fb.profile_scale
        )
        direction = decide([resolution, *evidence.cues(p, body)])
        derived_is_a = not direction.a_is_source
        if not direction.cues:
            # no evidence either way ("direction unknown"): the smaller picture is named first
            # as the copy, so that a re-shared reduced copy is not shown as the source
            derived_is_a = a_per_b < 1
        derived, source = (p.sha_a, p.sha_b) if derived_is_a else (p.sha_b, p.sha_a)
        candidates.append(
            Candidate(
                derived,
                source,
                float(body["changed_a"] if derived_is_a else body["changed_b"]),
                int(body["inliers"]),
                direction.confidence,
                p,
                derived_is_a,
                direction.evidence(),
                float(body["b_shows_a"] if derived_is_a else body["a_shows_b"]),
            )
        )
    return candidates


def pick_sources(
    candidates: list[Candidate], pixels: dict[str, float] | None = None
) -> list[Candidate]:
    """At most one source per image among its directed candidates, without cycles.

    The source named is the most original picture the image still matches: several edits of one
    photo are each linked to that photo, not to one another (edits of one region can look
    closer to each other than to their original), and an edit of an edit that still matches
    the original is linked to the original, its changed area then holding both edits. Among
    originals (pictures nothing is confidently the source of), the one it differs from least;
    but of two such originals that are copies of each other (nothing changed between them, no
    direction known), the one with more pixels (``pixels``: file pixels of each picture): an
    edit is made from the photo or from a copy of it, and the reduced copies that re-sharing
    leaves are the smaller ones.
    """
    copies = {
        frozenset((c.derived, c.source))
        for c in candidates
        if c.changed <= COPY_CHANGED and c.confidence < DECIDED
    }
    sources_of: dict[str, list[Candidate]] = {}
    for c in candidates:
        sources_of.setdefault(c.derived, []).append(c)
    by_pair = {(c.pair.sha_a, c.pair.sha_b): c.pair for c in candidates}
    sources_by_derived: dict[str, list[str]] = {}
    for c in candidates:
        if c.confidence >= DECIDED:
            sources_by_derived.setdefault(c.derived, []).append(c.source)
    best: dict[str, Candidate] = {}
    for derived, all_options in sources_of.items():
        options = [
            c for c in all_options if _carries_edits(derived, c, by_pair, sources_by_derived)
        ]
        if not options:
            continue  # related only to pictures it cannot have been made from: no link
        # a source shows all of what was made from it; a sibling cropped differently does not
        # (and then hides part of the changes, which would make it look closer)
        widest = max(c.covers for c in options)
        options = [c for c in options if c.covers >= widest - COVER_TIE]
        pick = min(
            options,
            key=lambda c: (c.source in sources_by_derived, c.changed, -c.confidence, -c.inliers),
        )
        if pick.source not in sources_by_derived and pixels:
            larger = [
                c
                for c in options
                if c.source not in sources_by_derived
                and frozenset((c.source, pick.source)) in copies
                and pixels.get(c.source, 0.0) > pixels.get(pick.source, 0.0)
            ]
            if larger:
                pick = max(larger, key=lambda c: pixels.get(c.source, 0.0))
        if pick.source not in sources_by_derived:
            others = {c.source for c in options if c.source not in sources_by_derived}
            pick.alternatives = tuple(sorted(others - {pick.source}))
        best[derived] = pick
    # no cycles: add the most confident links first, skip one that would close a loop
    chosen: dict[str, Candidate] = {}
    for c in sorted(best.values(), key=lambda c: (-c.confidence, c.derived)):
        node, loop = c.source, False
        while node in chosen:
            node = chosen[node].source
            if node == c.derived:
                loop = True
                break
        if not loop and c.source != c.derived:
            chosen[c.derived] = c
    return [chosen[k] for k in sorted(chosen)]


def _mask_in_frame_of(pair: PairRecord, sha: str) -> np.ndarray | None:
    png = pair.mask_a if pair.sha_a == sha else pair.mask_b
    return mask_from_png(png) if png else None


def _carries_edits(
    derived: str,
    option: Candidate,
    by_pair: dict[tuple[str, str], PairRecord],
    sources_by_derived: dict[str, list[str]],
) -> bool:
    """Can ``derived`` have been made from ``option.source`` (C)? Only if it carries C's own
    edits: where C differs from its own source S, D must look like C, not like S. A sibling (D
    also made from S, with another edit) shows S's pixels there. Both masks are in C's frame:
    C against S, and D against C."""
    edited = option.source
    d_vs_c = _mask_in_frame_of(option.pair, edited)
    if d_vs_c is None:
        return True
    for original in sources_by_derived.get(edited, []):
        pair = by_pair.get((min(edited, original), max(edited, original)))
        c_vs_s = _mask_in_frame_of(pair, edited) if pair else None
        if c_vs_s is None or c_vs_s.shape != d_vs_c.shape:
            continue
        area = int(c_vs_s.sum())
        if area and float((c_vs_s & d_vs_c).sum()) / area > 1 - CHAIN_COVERAGE:
            return False  # most of C's edit is undone in D: D shows the original there
    return True


def faces_in_work(faces: list[FaceOfImage]) -> list[FaceBox]:
    return [FaceBox(to_work(f.box, f.analysis_side), f.embedding) for f in faces]


def link_record(
    c: Candidate,
    features: dict[str, ImageFeatures],
    faces: dict[str, list[FaceOfImage]],
) -> LinkRecord | None:
    """The link's record; None when the face verdict shows the pair to be another shot, not an
    edit (face_swap.FaceVerdict.another_shot: a template shot of another person)."""
    body = json.loads(c.pair.payload)
    a_to_b = np.array(body["a_to_b"], dtype=np.float64).reshape(2, 3)
    derived_to_source = a_to_b if c.derived_is_a else invert(a_to_b)
    fd, fs = features[c.derived], features[c.source]
    transform = describe(
        file_matrix(derived_to_source, fd.work_scale, fs.work_scale),
        bool(body["mirrored"]),
        (fd.width, fd.height),
        (fs.width, fs.height),
    )
    mask_png = c.pair.mask_a if c.derived_is_a else c.pair.mask_b
    mask = mask_from_png(mask_png) if mask_png else np.zeros((1, 1), bool)
    boxes = body["boxes_a"] if c.derived_is_a else body["boxes_b"]
    verdict = judge(
        faces_in_work(faces.get(c.derived, [])),
        faces_in_work(faces.get(c.source, [])),
        derived_to_source,
        mask,
        rest_agreement=float(body.get("agreement", 1.0)),
    )
    if verdict.another_shot:
        return None
    k = 1.0 / fd.work_scale
    return LinkRecord(
        derived_sha256=c.derived,
        source_sha256=c.source,
        version=VERSION,
        transform=json.dumps(transform.as_json(), sort_keys=True),
        changed_fraction=round(c.changed, 4),
        boxes=json.dumps([[round(v * k, 1) for v in box] for box in boxes]),
        face_swap=verdict.face_swap,
        face=json.dumps(verdict.as_json(), sort_keys=True),
        confidence=round(c.confidence, 4),
        evidence=json.dumps(
            {
                "a_sha256": c.pair.sha_a,  # the picture the cues' "A" names
                "direction": c.evidence,
                "inliers": c.inliers,
                "matches": body["matches"],
                "other_possible_sources": list(c.alternatives),
            },
            sort_keys=True,
        ),
    )


__all__ = [
    "Candidate",
    "PairEvidence",
    "RULES",
    "choose_links",
    "faces_in_work",
    "link_record",
    "profiles_needed",
]
