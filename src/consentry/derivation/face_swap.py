"""Is the face in a derived picture the same person as in its source?

A face swap keeps the source's background and changes the identity. For each face of the derived
picture: where is it in the source (through the alignment), how much of it changed (change
mask), and how similar are the two faces' identity embeddings (SFace, the scan's thresholds)?

- face pixels unchanged (under UNCHANGED_SHARE of the box): same face, not a swap;
- changed, and similarity below the possible-match threshold: a swap;
- changed, and similarity at or above the match threshold: same person (edited face);
- in between, or no embedding on either side: undecided (None).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from consentry.analyzers.faces import MATCH_SIMILARITY, POSSIBLE_MATCH_SIMILARITY
from consentry.derivation.features import WORK_SIDE

UNCHANGED_SHARE = 0.15
CHANGED_SHARE = 0.35


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

    def as_json(self) -> dict[str, object]:
        return {
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "reason": self.reason,
            "derived_face": self.derived_face,
            "thresholds": {"match": MATCH_SIMILARITY, "possible": POSSIBLE_MATCH_SIMILARITY},
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
) -> FaceVerdict:
    """The verdict for the derived picture's most changed face (work pixels throughout)."""
    if not derived_faces:
        return FaceVerdict(None, None, "no face found in the derived picture")
    verdicts = []
    for index, face in enumerate(derived_faces):
        share = _changed_share(face.box, mask)
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
    if similarity >= MATCH_SIMILARITY:
        reason = f"same person (similarity {similarity:.2f} >= {MATCH_SIMILARITY})"
        return FaceVerdict(False, similarity, reason)
    return FaceVerdict(None, similarity, f"undecided (similarity {similarity:.2f})")


def _changed_share(box: tuple[float, float, float, float], mask: np.ndarray) -> float:
    h, w = mask.shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(round(box[0] + box[2]))), min(h, int(round(box[1] + box[3])))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    return float(mask[y0:y1, x0:x1].mean())


__all__ = ["FaceBox", "FaceVerdict", "judge", "to_work"]
