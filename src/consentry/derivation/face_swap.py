"""Is the face in a derived picture the same person as in its source?

A face swap keeps the source's background and changes the identity. For each face of the derived
picture: where is it in the source (through the alignment), how much of it changed (change
mask), and how similar are the two faces' identity embeddings (SFace, the scan's thresholds)?

- face pixels unchanged (under UNCHANGED_SHARE of the box): same face, not a swap;
- the rest of the picture changed too: most of the change outside the faces (OUTSIDE_SHARE) and
  the unchanged part not quite the same pixels (detail agreement below SWAP_MIN_AGREEMENT): no
  swap is stated (None). A face swap keeps everything but the face, pixel for pixel up to
  re-encoding; two shots of different people from one template (same pose, backdrop, clothes)
  differ in body, folds and shading everywhere (verify.py already keeps most of them apart);
- changed, and similarity below the possible-match threshold: a swap;
- changed a little (under CHANGED_SHARE), similarity at or above the match threshold: same
  person (a local edit that touches the face);
- replaced (CHANGED_SHARE or more of the face changed): same person only at a similarity of
  REPLACED_SAME_PERSON or more. Below that the face model cannot decide (None, with the reason):
  a face pasted from a look-alike keeps much of the target's outline and hair, and the face
  model then scores it above its match threshold (the demo's synthetic people: 0.69);
- in between, or no embedding on either side: undecided (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from consentry.analyzers.faces import MATCH_SIMILARITY, POSSIBLE_MATCH_SIMILARITY
from consentry.derivation.features import WORK_SIDE

UNCHANGED_SHARE = 0.15
CHANGED_SHARE = 0.35
INNER_MARGIN = 0.2  # the face's centre: its box less this share of its size on each side
# A face replaced in place is "the same person" only when the face model is sure. Measured (a
# tuning experiment on 73 faces of the benchmark's colour photos, ../shared/data): a retouched
# face (skin smoothed, brightened, inside the face ellipse) scored 0.86-0.99 against its
# original (5th percentile 0.90); the inner face of another person pasted on the landmarks and
# blended (as the demo's face-swap does) scored at most 0.46 on these real faces, and 0.69 on
# the demo's synthetic look-alikes.
REPLACED_SAME_PERSON = 0.8
# The rest of a face swap is unchanged. A swap is not stated when most of the change lies
# outside the faces (each grown by FACE_GROW of its size on every side) and the unchanged part
# is not quite the same pixels (verify.SAME_PIXELS_AGREEMENT; a face swap combined with another
# edit of a clean copy still is a swap). Benchmark seed 1 (tuning): the face pastes' change
# lies inside the grown face; template shots that aligned had agreement 0.75-0.83.
SWAP_MIN_AGREEMENT = 0.9
OUTSIDE_SHARE = 0.5
FACE_GROW = 0.3


@dataclass(frozen=True)
class FaceBox:
    """A face in work pixels of its picture."""

    box: tuple[float, float, float, float]
    embedding: np.ndarray | None


@dataclass(frozen=True)
class FaceVerdict:
    face_swap: bool | None
    similarity: float | None
    reason: str
    derived_face: int | None = None
    # the face replaced by one not confidently the same person, most of the change outside the
    # face and the rest not the same pixels: another shot (a template shot of another person),
    # not an edit of this picture - the link pass does not link such a pair
    another_shot: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "reason": self.reason,
            "derived_face": self.derived_face,
            "thresholds": {
                "match": MATCH_SIMILARITY,
                "possible": POSSIBLE_MATCH_SIMILARITY,
                "replaced_same_person": REPLACED_SAME_PERSON,
                "swap_min_rest_agreement": SWAP_MIN_AGREEMENT,
                "swap_max_change_outside_faces": OUTSIDE_SHARE,
            },
        }


def to_work(
    box: tuple[float, float, float, float], analysis_side: int
) -> tuple[float, float, float, float]:
    """A face box from analysed-picture pixels (long side ``analysis_side``) to work pixels."""
    k = WORK_SIDE / float(analysis_side)
    return (box[0] * k, box[1] * k, box[2] * k, box[3] * k)


def judge(
    derived_faces: list[FaceBox],
    source_faces: list[FaceBox],
    derived_to_source: np.ndarray,
    mask: np.ndarray,
    rest_agreement: float = 1.0,
) -> FaceVerdict:
    """The verdict for the derived picture's most changed face (work pixels throughout).
    ``rest_agreement``: the pair's detail agreement over what did not change (change_mask)."""
    if not derived_faces:
        return FaceVerdict(None, None, "no face found in the derived picture")
    verdicts = []
    for index, face in enumerate(derived_faces):
        # the face box, or its centre (eyes, nose, mouth) where a face-swap tool pastes the
        # inner face and keeps the outline, hair and chin
        share = max(_changed_share(face.box, mask), _changed_share(_inner(face.box), mask))
        x, y, w, h = face.box
        cx, cy = derived_to_source @ np.array([x + w / 2, y + h / 2, 1.0])
        partner = next(
            (
                s
                for s in source_faces
                if s.box[0] <= cx <= s.box[0] + s.box[2] and s.box[1] <= cy <= s.box[1] + s.box[3]
            ),
            None,
        )
        verdicts.append((share, index, _one(share, face, partner)))
    share, index, verdict = max(verdicts, key=lambda v: v[0])
    outside = _outside_faces(mask, [f.box for f in derived_faces])
    replaced_by_other = verdict.face_swap is not False and share >= CHANGED_SHARE
    if replaced_by_other and outside > OUTSIDE_SHARE and rest_agreement < SWAP_MIN_AGREEMENT:
        reason = (
            f"{verdict.reason}; but {outside:.0%} of the change lies outside the face and the "
            f"rest is not the same pixels (detail agreement {rest_agreement:.2f} < "
            f"{SWAP_MIN_AGREEMENT}): another shot, or a template shot of another person, not "
            "shown to be a face swap"
        )
        return FaceVerdict(None, verdict.similarity, reason, index, another_shot=True)
    return FaceVerdict(verdict.face_swap, verdict.similarity, verdict.reason, index)


def _one(share: float, face: FaceBox, partner: FaceBox | None) -> FaceVerdict:
    if share < UNCHANGED_SHARE:
        return FaceVerdict(False, None, f"face pixels unchanged ({share:.0%} of the face changed)")
    if partner is None:
        if share >= CHANGED_SHARE:
            return FaceVerdict(
                True, None, f"no face at this place in the source; {share:.0%} of it changed"
            )
        return FaceVerdict(None, None, "no face at this place in the source")
    if face.embedding is None or partner.embedding is None:
        return FaceVerdict(None, None, "face changed, but a face too small or blurred to compare")
    similarity = float(np.dot(face.embedding, partner.embedding))
    if share >= CHANGED_SHARE and similarity < POSSIBLE_MATCH_SIMILARITY:
        reason = (
            f"{share:.0%} of the face changed and it is another person "
            f"(similarity {similarity:.2f} < {POSSIBLE_MATCH_SIMILARITY})"
        )
        return FaceVerdict(True, similarity, reason)
    if share >= CHANGED_SHARE:
        if similarity >= REPLACED_SAME_PERSON:
            reason = (
                f"{share:.0%} of the face changed, same person "
                f"(similarity {similarity:.2f} >= {REPLACED_SAME_PERSON})"
            )
            return FaceVerdict(False, similarity, reason)
        reason = (
            f"{share:.0%} of the face was replaced, the rest kept; the face model cannot tell "
            f"whether it is another person: similarity {similarity:.2f}, between "
            f"{POSSIBLE_MATCH_SIMILARITY} (another person) and {REPLACED_SAME_PERSON} (the same "
            "person edited); a face pasted from a look-alike scores so"
        )
        return FaceVerdict(None, similarity, reason)
    if similarity >= MATCH_SIMILARITY:
        reason = f"same person (similarity {similarity:.2f} >= {MATCH_SIMILARITY})"
        return FaceVerdict(False, similarity, reason)
    return FaceVerdict(None, similarity, f"undecided (similarity {similarity:.2f})")


def _inner(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (x + INNER_MARGIN * w, y + INNER_MARGIN * h, (1 - 2 * INNER_MARGIN) * w,
            (1 - 2 * INNER_MARGIN) * h)  # fmt: skip


def _outside_faces(mask: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> float:
    """Share of the changed pixels outside every face box grown by FACE_GROW."""
    total = int(mask.sum())
    if not total:
        return 0.0
    inside = np.zeros(mask.shape, bool)
    h, w = mask.shape
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, int(x - FACE_GROW * bw)), max(0, int(y - FACE_GROW * bh))
        x1, y1 = min(w, int(x + (1 + FACE_GROW) * bw)), min(h, int(y + (1 + FACE_GROW) * bh))
        inside[y0:y1, x0:x1] = True
    return float((mask & ~inside).sum()) / total


def _changed_share(box: tuple[float, float, float, float], mask: np.ndarray) -> float:
    h, w = mask.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(round(box[0] + box[2]))), min(h, int(round(box[1] + box[3])))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


__all__ = [
    "CHANGED_SHARE",
    "OUTSIDE_SHARE",
    "REPLACED_SAME_PERSON",
    "SWAP_MIN_AGREEMENT",
    "FaceBox",
    "FaceVerdict",
    "judge",
    "to_work",
]
