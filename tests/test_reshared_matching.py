"""Matching on re-shared copies (issue 13): typed reasons for every level, and group support
(a usable face at ``possible`` whose group matches the person is promoted to ``match``)."""

from __future__ import annotations

import numpy as np
import pytest

from consentry.persons.matching import (
    MATCH,
    NO_GROUP,
    POSSIBLE,
    REASON_TEXT,
    MatchReason,
    TemplateSet,
    check_groups,
    match_faces,
    promoted_by_group,
)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _near(rng: np.random.Generator, v: np.ndarray, similarity: float) -> np.ndarray:
    noise = rng.normal(size=v.shape).astype(np.float32)
    noise -= noise.dot(v) * v
    noise /= np.linalg.norm(noise)
    return (similarity * v + np.sqrt(1 - similarity**2) * noise).astype(np.float32)


def _case(sims: list[float], seed: int = 1) -> tuple[np.ndarray, TemplateSet]:
    rng = np.random.default_rng(seed)
    template = _unit(rng, 1)
    faces = np.stack([_near(rng, template[0], s) for s in sims])
    return faces, TemplateSet(template, np.array([1]))


def test_every_level_says_why() -> None:
    faces, templates = _case([0.7, 0.44, 0.6, 0.2])
    usable = np.array([True, True, False, True])
    found = match_faces(faces, usable, templates)
    assert list(found.level) == [MATCH, POSSIBLE, POSSIBLE, None]
    assert list(found.reason) == [
        MatchReason.SIMILARITY,
        MatchReason.BELOW_MATCH,
        MatchReason.NOT_USABLE,
        None,
    ]
    assert all(reason in REASON_TEXT for reason in MatchReason)
    assert MatchReason.GROUP_SUPPORT.value == "group_support"  # stable stored string


def test_a_possible_face_in_a_group_that_matches_the_person_is_promoted() -> None:
    # a re-shared copy (0.43) clustered with three clear photos of the person
    faces, templates = _case([0.7, 0.6, 0.65, 0.43, 0.2])
    found = match_faces(faces, np.ones(5, dtype=bool), templates)
    assert found.level[3] == POSSIBLE
    groups = np.array([4, 4, 4, 4, NO_GROUP])
    assert check_groups(found, faces, groups, templates) == 0
    assert found.level[3] == MATCH
    assert found.reason[3] == MatchReason.GROUP_SUPPORT
    assert found.reason[0] == MatchReason.SIMILARITY
    assert found.similarity[3] == pytest.approx(0.43, abs=1e-4)  # its own score is kept
    assert promoted_by_group(found) == 1


def test_no_promotion_without_a_group_that_matches() -> None:
    # group median below match: two possibles and one match do not make the group the person
    faces, templates = _case([0.5, 0.43, 0.42, 0.3])
    found = match_faces(faces, np.ones(4, dtype=bool), templates)
    groups = np.array([2, 2, 2, 2])
    check_groups(found, faces, groups, templates)
    assert found.level[1] == POSSIBLE and found.level[2] == POSSIBLE
    assert promoted_by_group(found) == 0


def test_no_promotion_without_another_match_in_the_group() -> None:
    # the group's median (0.445) passes a group threshold of 0.44, but no face of it is a
    # match on its own (all below 0.46): a group of possibles does not lift itself
    faces, templates = _case([0.45, 0.44, 0.43, 0.455])
    found = match_faces(faces, np.ones(4, dtype=bool), templates)
    assert all(level == POSSIBLE for level in found.level)
    check_groups(found, faces, np.array([2, 2, 2, 2]), templates, match_threshold=0.44)
    assert all(level == POSSIBLE for level in found.level)
    assert promoted_by_group(found) == 0


def test_small_groups_ungrouped_and_unusable_faces_are_not_promoted() -> None:
    faces, templates = _case([0.7, 0.43, 0.7, 0.6, 0.44, 0.8])
    usable = np.ones(6, dtype=bool)
    found = match_faces(faces, usable, templates)
    groups = np.array([1, 1, 2, 2, NO_GROUP, 2])  # group 1: a pair, too small to speak
    usable_mask = np.array([True, True, True, True, True, True])
    check_groups(found, faces, groups, templates, usable=usable_mask)
    assert found.level[1] == POSSIBLE  # pair
    assert found.level[4] == POSSIBLE  # no group
    # an unusable face carries NOT_USABLE and is never promoted, even inside a matching group
    faces2, templates2 = _case([0.7, 0.6, 0.65, 0.5])
    usable2 = np.array([True, True, True, False])
    found2 = match_faces(faces2, usable2, templates2)
    check_groups(found2, faces2, np.array([3, 3, 3, 3]), templates2, usable=usable2)
    assert found2.level[3] == POSSIBLE and found2.reason[3] == MatchReason.NOT_USABLE


def test_a_demoted_match_is_not_promoted_back() -> None:
    # a look-alike's group: one face passes alone (demoted), the rest are far below
    faces, templates = _case([0.48, 0.30, 0.35, 0.40])
    found = match_faces(faces, np.ones(4, dtype=bool), templates)
    assert check_groups(found, faces, np.array([5, 5, 5, 5]), templates) == 1
    assert found.level[0] == POSSIBLE
    assert found.reason[0] == MatchReason.GROUP_DISAGREES
    assert promoted_by_group(found) == 0


def test_a_small_sharp_frontal_face_matches_only_at_the_stricter_threshold() -> None:
    from consentry.analyzers.faces import MATCH_SIMILARITY, SMALL_FACE_MATCH_SIMILARITY

    assert SMALL_FACE_MATCH_SIMILARITY > MATCH_SIMILARITY  # stricter than for a usable face
    strict = 0.55  # the threshold is a parameter: a stricter one must be honoured
    faces, templates = _case([0.6, 0.5, 0.6])
    usable = np.zeros(3, dtype=bool)
    small = np.array([True, True, False])  # the third: blurred or in profile, not just small
    found = match_faces(faces, usable, templates, small=small, small_threshold=strict)
    assert found.level[0] == MATCH and found.reason[0] == MatchReason.SMALL_FACE
    assert found.level[1] == POSSIBLE and found.reason[1] == MatchReason.NOT_USABLE
    assert found.level[2] == POSSIBLE and found.reason[2] == MatchReason.NOT_USABLE
    between = (MATCH_SIMILARITY + SMALL_FACE_MATCH_SIMILARITY) / 2
    faces, templates = _case([SMALL_FACE_MATCH_SIMILARITY + 0.02, between, between])
    found = match_faces(faces, np.array([False, False, True]), templates, small=small)
    assert list(found.level) == [MATCH, POSSIBLE, MATCH]  # the usable face: usual threshold
    assert found.reason[1] == MatchReason.NOT_USABLE
    # without the small mask (the old call) nothing unusable is ever a match
    assert MATCH not in list(match_faces(faces, usable, templates).level)


def test_which_faces_count_as_small_but_identifiable() -> None:
    from consentry.analyzers.faces import (
        BLURRY,
        MIN_FACE_SIDE,
        NOT_FRONTAL,
        SMALL_FACE_MIN_SIDE,
        TOO_SMALL,
        small_face_identifiable,
    )

    assert SMALL_FACE_MIN_SIDE < MIN_FACE_SIDE
    assert small_face_identifiable(SMALL_FACE_MIN_SIDE, (TOO_SMALL,))
    assert small_face_identifiable(40.0, "too_small")  # as the store keeps flags
    assert not small_face_identifiable(SMALL_FACE_MIN_SIDE - 0.5, (TOO_SMALL,))
    assert not small_face_identifiable(40.0, (TOO_SMALL, BLURRY))
    assert not small_face_identifiable(40.0, f"{TOO_SMALL},{NOT_FRONTAL}")
    assert not small_face_identifiable(60.0, ())  # usable faces go the usual way
