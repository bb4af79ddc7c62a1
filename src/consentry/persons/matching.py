"""Compare every face of a case with every enrolled person: best person per face, vectorised.

A person's similarity to a face is the highest cosine similarity between the face and any of
the person's templates (one per reference photo): each comparison is a face-to-face comparison,
the kind ``bench/face_verification.py`` calibrated the thresholds on. The levels:

- ``match``: similarity >= ``MATCH_SIMILARITY`` (0.46; FAR <= 0.1 % per comparison on the
  calibration identities, 0.31 % measured on held-out ones) and the face is *usable* (>= 48 px,
  sharp, frontal). Only usable faces are ever identified.
- ``possible``: similarity >= ``POSSIBLE_MATCH_SIMILARITY`` (0.41; FAR <= 1 %), or a ``match``
  similarity on a face that is not usable. A lead for the examiner, never an identification.
- none otherwise (no row is stored).

Group consistency (``check_groups``): a single face can pass the match threshold against a
look-alike (generated faces crowd together: 6 % of synthetic impostor pairs pass 0.46). Faces of
one person in a case are clustered together, so a ``match`` must also hold for the face's group:
when the face sits in a group of at least ``GROUP_MIN_FACES`` usable faces and the group's median
similarity to the person is below the match threshold, the face is demoted to ``possible``.
The rule applies the same threshold to the group that a single face has to pass; it adds no
tuned constant beyond the group size.

Group support (``check_groups`` too, issue 13), the inverse rule: a usable face at ``possible``
for a person (similarity between 0.41 and 0.46: re-shared copies, smaller, blurred and harder
JPEG, lose similarity) is promoted to ``match`` when its group of at least ``GROUP_MIN_FACES``
usable faces matches that person by the same median test *and* at least one other face of the
group is itself a ``match`` for the person. The clustering has already put the face with faces
of that person at the match similarity; the promotion needs no tuned constant either.

Every level carries a typed reason (``MatchReason``, ``FaceMatches.reason``): why a face
matched (its own similarity, or its group's support) or why it is only possible (similarity
below match, face not usable, group disagrees).

Only templates of persons whose consent is on record and not expired reach this module: the
caller (``refresh``) loads them through the store, which joins on the consent record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from consentry.analyzers.faces import (
    MATCH_SIMILARITY,
    POSSIBLE_MATCH_SIMILARITY,
    SMALL_FACE_MATCH_SIMILARITY,
)

MATCH = "match"
POSSIBLE = "possible"
BLOCK = 2048  # faces per matrix product: bounds memory at BLOCK x templates x 4 bytes
# A group smaller than this says too little about its person to overrule a face's own match
# (two faces: the median is just their mean).
GROUP_MIN_FACES = 3


class MatchReason(StrEnum):
    """Why a face is at its level (stable strings: stored and shown)."""

    SIMILARITY = "similarity"  # match: usable face, similarity >= match threshold
    SMALL_FACE = "small_face_similarity"  # match: small sharp frontal face, >= small threshold
    GROUP_SUPPORT = "group_support"  # match: possible alone, its group matches the person
    BELOW_MATCH = "below_match"  # possible: similarity between possible and match
    NOT_USABLE = "face_not_usable"  # possible: match similarity, but the face is not usable
    GROUP_DISAGREES = "group_disagrees"  # possible: match alone, its group does not match

    @property
    def text(self) -> str:
        return REASON_TEXT[self]


REASON_TEXT = {
    MatchReason.SIMILARITY: "similarity to the person's reference photos reaches the match "
    "threshold on a usable face",
    MatchReason.SMALL_FACE: "the face is under the usual size for identity (32-47 px, but sharp "
    "and frontal), and its similarity reaches the stricter threshold chosen for such faces",
    MatchReason.GROUP_SUPPORT: "similarity reaches only the possible threshold, but the face's "
    "group of faces matches the person (median similarity at the match threshold, and another "
    "face of the group matches on its own)",
    MatchReason.BELOW_MATCH: "similarity between the possible and the match threshold",
    MatchReason.NOT_USABLE: "similarity reaches the match threshold, but the face is too small, "
    "blurred or in profile to identify",
    MatchReason.GROUP_DISAGREES: "similarity reaches the match threshold, but the face's group "
    "of faces does not match the person (median below the match threshold)",
}


@dataclass(frozen=True)
class TemplateSet:
    """Templates of the enrolled persons, one row each."""

    embeddings: np.ndarray  # (m, 128) float32, unit rows
    person_ids: np.ndarray  # (m,) int64, the person each row belongs to


@dataclass(frozen=True)
class FaceMatches:
    """Per face (same order as the input): best person, its similarity and the level."""

    person_ids: np.ndarray  # (n,) int64; -1 when there are no templates
    similarity: np.ndarray  # (n,) float32; -1 when there are no templates
    level: np.ndarray  # (n,) object: "match", "possible" or None
    reason: np.ndarray  # (n,) object: MatchReason for each level, None where level is None


def match_faces(
    embeddings: np.ndarray,
    usable: np.ndarray,
    templates: TemplateSet,
    match_threshold: float = MATCH_SIMILARITY,
    possible_threshold: float = POSSIBLE_MATCH_SIMILARITY,
    small: np.ndarray | None = None,
    small_threshold: float = SMALL_FACE_MATCH_SIMILARITY,
) -> FaceMatches:
    """Best enrolled person for each face (rows of ``embeddings``), with its level.

    ``small`` marks faces that are not usable only because they are small
    (``faces.small_face_identifiable``): they match at ``small_threshold``, stricter than
    ``match_threshold`` (``faces.SMALL_FACE_MATCH_SIMILARITY`` says how it was chosen), with
    reason ``SMALL_FACE``."""
    n = len(embeddings)
    best_person = np.full(n, -1, dtype=np.int64)
    best_sim = np.full(n, -1.0, dtype=np.float32)
    level = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    if n == 0 or len(templates.embeddings) == 0:
        return FaceMatches(best_person, best_sim, level, reason)
    # group template rows by person so that a per-person maximum is one reduceat
    order = np.argsort(templates.person_ids, kind="stable")
    t = np.ascontiguousarray(templates.embeddings[order], dtype=np.float32)
    pids = templates.person_ids[order]
    starts = np.flatnonzero(np.r_[True, pids[1:] != pids[:-1]])
    persons = pids[starts]
    faces = np.asarray(embeddings, dtype=np.float32)
    for lo in range(0, n, BLOCK):
        sims = faces[lo : lo + BLOCK] @ t.T  # (b, m)
        per_person = np.maximum.reduceat(sims, starts, axis=1)  # (b, persons)
        best = per_person.argmax(axis=1)
        best_person[lo : lo + BLOCK] = persons[best]
        best_sim[lo : lo + BLOCK] = per_person[np.arange(len(best)), best]
    usable = np.asarray(usable, dtype=bool)
    is_match = (best_sim >= match_threshold) & usable
    is_small = np.zeros(n, dtype=bool)
    if small is not None:
        is_small = ~usable & np.asarray(small, dtype=bool) & (best_sim >= small_threshold)
    is_possible = ~is_match & ~is_small & (best_sim >= possible_threshold)
    level[is_match | is_small] = MATCH
    level[is_possible] = POSSIBLE
    reason[is_match] = MatchReason.SIMILARITY
    reason[is_small] = MatchReason.SMALL_FACE
    reason[is_possible & (best_sim >= match_threshold)] = MatchReason.NOT_USABLE
    reason[is_possible & (best_sim < match_threshold)] = MatchReason.BELOW_MATCH
    return FaceMatches(best_person, best_sim, level, reason)


def person_similarity(embeddings: np.ndarray, templates: TemplateSet, person_id: int) -> np.ndarray:
    """Similarity of each face to one person: the best over the person's templates."""
    rows = templates.embeddings[templates.person_ids == person_id]
    if len(rows) == 0 or len(embeddings) == 0:
        return np.full(len(embeddings), -1.0, dtype=np.float32)
    sims = np.asarray(embeddings, dtype=np.float32) @ np.asarray(rows, dtype=np.float32).T
    return sims.max(axis=1)


def check_groups(
    found: FaceMatches,
    embeddings: np.ndarray,
    groups: np.ndarray,
    templates: TemplateSet,
    match_threshold: float = MATCH_SIMILARITY,
    min_faces: int = GROUP_MIN_FACES,
    usable: np.ndarray | None = None,
) -> int:
    """Hold each face's level to its group (in place). ``groups[i]`` labels face i's group;
    faces outside any group (not usable) carry ``NO_GROUP``.

    - Demote to ``possible`` each ``match`` whose group (>= ``min_faces``) does not, by its
      median similarity, match the same person (``GROUP_DISAGREES``).
    - Then promote to ``match`` each ``possible`` face of a usable face (``usable``; every
      grouped face when None: only usable faces are grouped) whose group passes that median
      test for its person and holds another ``match`` of the person (``GROUP_SUPPORT``).

    Returns how many matches were demoted (``promoted_by_group`` counts the others)."""
    groups = np.asarray(groups)
    verdict: dict[tuple[int, int], bool] = {}

    def group_matches(group: int, person: int) -> bool:
        key = (group, person)
        if key not in verdict:
            members = np.flatnonzero(groups == group)
            if len(members) < min_faces:
                verdict[key] = True
            else:
                sims = person_similarity(embeddings[members], templates, person)
                verdict[key] = bool(np.median(sims) >= match_threshold)
        return verdict[key]

    demoted = 0
    for i in np.flatnonzero(found.level == MATCH).tolist():
        group = int(groups[i])
        if group == NO_GROUP:
            continue
        if not group_matches(group, int(found.person_ids[i])):
            found.level[i] = POSSIBLE
            found.reason[i] = MatchReason.GROUP_DISAGREES
            demoted += 1
    grouped = groups != NO_GROUP
    if usable is not None:
        grouped &= np.asarray(usable, dtype=bool)
    for i in np.flatnonzero((found.level == POSSIBLE) & grouped).tolist():
        if found.reason[i] != MatchReason.BELOW_MATCH:
            continue  # a demoted match stays demoted; unusable faces are never identified
        group, person = int(groups[i]), int(found.person_ids[i])
        members = np.flatnonzero(groups == group)
        if len(members) < min_faces or not group_matches(group, person):
            continue
        others = members[members != i]
        if np.any((found.level[others] == MATCH) & (found.person_ids[others] == person)):
            found.level[i] = MATCH
            found.reason[i] = MatchReason.GROUP_SUPPORT
    return demoted


def promoted_by_group(found: FaceMatches) -> int:
    """How many faces are at ``match`` by their group's support."""
    return int(np.sum(found.reason == MatchReason.GROUP_SUPPORT))


NO_GROUP = np.iinfo(np.int64).min

__all__ = [
    "GROUP_MIN_FACES",
    "MATCH",
    "NO_GROUP",
    "POSSIBLE",
    "REASON_TEXT",
    "FaceMatches",
    "MatchReason",
    "TemplateSet",
    "check_groups",
    "match_faces",
    "person_similarity",
    "promoted_by_group",
]
