"""Persons building blocks without a case: consent records, template encryption, matching,
clustering and folder reconciliation. Embeddings here are random unit vectors, no images."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from cryptography.fernet import Fernet

from consentry.persons import template_crypto
from consentry.persons.clustering import cluster_faces
from consentry.persons.consent import (
    ConsentError,
    check_names,
    parse_consent,
    validate_consent,
)
from consentry.persons.folders import (
    FolderImage,
    folder_of,
    looks_like_a_name,
    named_after,
    reconcile,
)
from consentry.persons.matching import (
    MATCH,
    NO_GROUP,
    POSSIBLE,
    TemplateSet,
    check_groups,
    match_faces,
)
from consentry.persons.template_crypto import TemplateKeyError, load_key

GOOD = {
    "consented_by": "Jane Doe",
    "consented_at": "2026-01-02T10:00:00+01:00",
    "scope": "search case 17 for images of me",
    "recorded_by": "A. Examiner",
}


# -- consent ---------------------------------------------------------------------------------
def test_a_complete_consent_record_is_accepted_as_json_and_yaml() -> None:
    record = parse_consent(json.dumps(GOOD).encode())
    assert record.consented_by == "Jane Doe" and record.expires_at is None
    yaml_text = "\n".join(f"{k}: {v!r}" for k, v in GOOD.items()) + "\nconsented_at: 2026-01-02\n"
    assert parse_consent(yaml_text.encode(), yaml=True).consented_at == "2026-01-02"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"consented_by": None}, "missing consented_by"),
        ({"scope": "  "}, "missing scope"),
        ({"recorded_by": 17}, "recorded_by must be text"),
        ({"consented_at": "yesterday"}, "not an ISO 8601 date"),
        ({"consented_at": "2999-01-01"}, "in the future"),
        ({"consented-at": "2026-01-01"}, "unknown field(s) consented-at"),
        ({"expires_at": "2025-12-31"}, "has passed"),
    ],
)
def test_incomplete_consent_records_are_refused_with_the_reason(
    change: dict[str, object], message: str
) -> None:
    value = {**GOOD, **change}
    with pytest.raises(ConsentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_consent({k: v for k, v in value.items()})


def test_consent_that_is_not_an_object_or_not_json_is_refused() -> None:
    with pytest.raises(ConsentError, match="must be an object"):
        validate_consent(["Jane"])
    with pytest.raises(ConsentError, match="not valid JSON"):
        parse_consent(b"{consented_by: Jane")


def test_a_yaml_record_with_an_impossible_date_is_a_clear_error_like_json() -> None:
    yaml_text = "\n".join(f"{k}: {v!r}" for k, v in GOOD.items()) + "\nconsented_at: 2026-13-45\n"
    with pytest.raises(ConsentError, match="consented_at '2026-13-45' is not an ISO 8601 date"):
        parse_consent(yaml_text.encode(), yaml=True)
    with pytest.raises(ConsentError, match="consented_at '2026-13-45' is not an ISO 8601 date"):
        parse_consent(json.dumps({**GOOD, "consented_at": "2026-13-45"}).encode())


def test_broken_yaml_is_one_line_with_where() -> None:
    with pytest.raises(ConsentError) as caught:
        parse_consent(b"consented_by: [Jane\nscope: x\n", yaml=True)
    message = str(caught.value)
    assert "\n" not in message and "not valid YAML" in message and "line 2" in message


@pytest.mark.parametrize(
    ("record", "name"),
    [
        ({}, "Jane Doe"),
        ({"consented_by": "  jane   DOE "}, "Jane Doe"),
        ({"consented_by": "Doe, Jane"}, "Jane Doe"),
        ({"consented_by": "Zoë Ångström"}, "Zoe Angstrom"),
        ({"consented_by": "Jean-Luc Picard"}, "jean luc picard"),
        ({"consented_by": "Mary Doe", "on_behalf_of": "Jane Doe"}, "Jane Doe"),  # guardian
    ],
)
def test_a_record_naming_the_person_is_theirs(record: dict[str, str], name: str) -> None:
    check_names(validate_consent({**GOOD, **record}), name)


@pytest.mark.parametrize(
    ("record", "name"),
    [
        ({"consented_by": "Tony Blair"}, "Colin Powell"),
        ({"consented_by": "Jane Doe"}, "Jane"),
        ({"consented_by": "Jane Doe", "on_behalf_of": "Tim Doe"}, "Jane Doe"),  # for another
        ({"consented_by": "Jane Doe"}, "..."),
    ],
)
def test_a_record_naming_someone_else_is_refused(record: dict[str, str], name: str) -> None:
    with pytest.raises(ConsentError, match="a person is enrolled only with their own consent"):
        check_names(validate_consent({**GOOD, **record}), name)


def test_expiry_is_checked_at_use() -> None:
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    record = validate_consent({**GOOD, "expires_at": later})
    assert not record.expired()
    assert record.expired(now=datetime.now(UTC) + timedelta(days=3))


# -- erasure ---------------------------------------------------------------------------------
def test_a_crop_that_cannot_be_deleted_is_named_and_stops_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.persons import erasure

    keys = [("ab" * 32, 0), ("cd" * 32, 1), ("ef" * 32, 0)]  # the third has no crop
    for key in keys[:2]:
        path = erasure.crop_file(tmp_path, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not really a jpeg")
    stuck = erasure.crop_file(tmp_path, keys[1])
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == stuck:
            raise PermissionError(13, "Permission denied")
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    deleted, failed = erasure.delete_crops(tmp_path, keys)
    assert deleted == 1 and not erasure.crop_file(tmp_path, keys[0]).exists()
    assert len(failed) == 1 and "Permission denied" in failed[0]
    assert stuck.read_bytes() == b"\0" * len(b"not really a jpeg")  # overwritten at least


# -- template encryption -----------------------------------------------------------------------
def test_key_file_is_created_owner_only_and_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(template_crypto.ENV_VAR, raising=False)
    with pytest.raises(TemplateKeyError, match="no template key"):
        load_key(tmp_path)
    key = load_key(tmp_path, create=True)
    path = template_crypto.key_file_path(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    token = key.encrypt(vector)
    assert vector.astype("<f4").tobytes() not in token
    assert np.array_equal(load_key(tmp_path).decrypt(token), vector)
    key.verify_check(key.make_check())


def test_environment_key_wins_and_a_wrong_key_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(template_crypto.ENV_VAR, raising=False)
    case_key = load_key(tmp_path, create=True)
    check = case_key.make_check()
    token = case_key.encrypt(np.ones(128, np.float32))
    monkeypatch.setenv(template_crypto.ENV_VAR, Fernet.generate_key().decode())
    other = load_key(tmp_path)
    assert other.source == template_crypto.ENV_VAR
    with pytest.raises(TemplateKeyError, match="not this case's key"):
        other.verify_check(check)
    with pytest.raises(TemplateKeyError, match="wrong key"):
        other.decrypt(token)
    monkeypatch.setenv(template_crypto.ENV_VAR, "not a key")
    with pytest.raises(TemplateKeyError, match="not a Fernet key"):
        load_key(tmp_path)


def test_a_key_file_readable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(template_crypto.ENV_VAR, raising=False)
    load_key(tmp_path, create=True)
    template_crypto.key_file_path(tmp_path).chmod(0o644)
    with pytest.raises(TemplateKeyError, match="readable by others"):
        load_key(tmp_path)


# -- matching --------------------------------------------------------------------------------
def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(size=(n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _near(rng: np.random.Generator, v: np.ndarray, similarity: float) -> np.ndarray:
    """A unit vector with the given cosine similarity to unit vector ``v``."""
    noise = rng.normal(size=v.shape).astype(np.float32)
    noise -= noise.dot(v) * v
    noise /= np.linalg.norm(noise)
    return (similarity * v + np.sqrt(1 - similarity**2) * noise).astype(np.float32)


def test_vectorised_matching_equals_comparing_one_by_one() -> None:
    rng = np.random.default_rng(3)
    templates = _unit(rng, 12)
    person_ids = np.array([5, 5, 9, 9, 9, 2, 2, 7, 7, 8, 8, 8])
    faces = np.stack(
        [_near(rng, templates[i % 12], s) for i, s in enumerate(np.linspace(0.2, 0.95, 40))]
    )
    usable = np.ones(len(faces), dtype=bool)
    usable[::5] = False
    found = match_faces(faces, usable, TemplateSet(templates, person_ids))
    for i, face in enumerate(faces):
        best = {p: max(face @ templates[person_ids == p].T) for p in set(person_ids.tolist())}
        person = max(best, key=lambda p: best[p])
        assert found.person_ids[i] == person
        assert found.similarity[i] == pytest.approx(best[person], abs=1e-5)
        expected = None
        if best[person] >= 0.46 and usable[i]:
            expected = MATCH
        elif best[person] >= 0.41:
            expected = POSSIBLE
        assert found.level[i] == expected


def test_an_unusable_face_is_never_a_match_and_no_templates_match_nothing() -> None:
    rng = np.random.default_rng(4)
    template = _unit(rng, 1)
    face = _near(rng, template[0], 0.9)[None, :]
    found = match_faces(face, np.array([False]), TemplateSet(template, np.array([1])))
    assert found.level[0] == POSSIBLE
    empty = TemplateSet(np.zeros((0, 128), np.float32), np.zeros(0, np.int64))
    assert match_faces(face, np.array([True]), empty).level[0] is None


def test_a_match_whose_group_does_not_match_the_person_is_demoted_to_possible() -> None:
    # a look-alike: one of its faces passes the threshold against enrolled person 1, the rest of
    # its group do not; the enrolled person's own group matches throughout
    rng = np.random.default_rng(5)
    template = _unit(rng, 1)
    own = [_near(rng, template[0], s) for s in (0.7, 0.6, 0.5, 0.65)]
    lookalike = [_near(rng, template[0], s) for s in (0.48, 0.30, 0.35, 0.40)]
    faces = np.stack(own + lookalike)
    templates = TemplateSet(template, np.array([1]))
    found = match_faces(faces, np.ones(8, dtype=bool), templates)
    assert list(found.level[:5]) == [MATCH] * 5  # the look-alike's first face passes alone
    groups = np.array([10, 10, 10, 10, -1, -1, -1, -1])
    assert check_groups(found, faces, groups, templates) == 1
    assert list(found.level[:4]) == [MATCH] * 4
    assert found.level[4] == POSSIBLE
    assert found.similarity[4] == pytest.approx(0.48, abs=1e-4)  # the score is kept


def test_small_groups_and_ungrouped_faces_keep_their_own_match() -> None:
    rng = np.random.default_rng(6)
    template = _unit(rng, 1)
    faces = np.stack([_near(rng, template[0], s) for s in (0.5, 0.2, 0.5)])
    templates = TemplateSet(template, np.array([1]))
    found = match_faces(faces, np.ones(3, dtype=bool), templates)
    groups = np.array([3, 3, NO_GROUP])  # a pair is too small to overrule its face
    assert check_groups(found, faces, groups, templates) == 0
    assert found.level[0] == MATCH and found.level[2] == MATCH


# -- clustering ------------------------------------------------------------------------------
def _people(rng: np.random.Generator, persons: int, per: int) -> tuple[np.ndarray, np.ndarray]:
    centres = _unit(rng, persons)
    faces = np.stack([_near(rng, centres[p], 0.8) for p in range(persons) for _ in range(per)])
    return faces, np.repeat(np.arange(persons), per)


def _partition(labels: np.ndarray, index: np.ndarray) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for i, label in zip(index.tolist(), labels.tolist(), strict=True):
        groups.setdefault(label, []).append(i)
    return sorted(sorted(g) for g in groups.values())


def test_clusters_recover_people_whatever_the_input_order() -> None:
    rng = np.random.default_rng(5)
    faces, truth = _people(rng, 12, 6)
    result = cluster_faces(faces)
    assert result.new_groups == 12
    assert _partition(result.labels, np.arange(len(faces))) == _partition(
        truth, np.arange(len(faces))
    )
    order = rng.permutation(len(faces))
    shuffled = cluster_faces(faces[order])
    assert _partition(shuffled.labels, order) == _partition(result.labels, np.arange(len(faces)))
    # new groups are numbered largest first
    sizes = np.bincount(-1 - result.labels)
    assert list(sizes) == sorted(sizes, reverse=True)


def test_existing_groups_keep_their_faces_gain_new_ones_and_are_never_joined() -> None:
    rng = np.random.default_rng(6)
    faces, truth = _people(rng, 4, 5)
    existing = np.full(len(faces), -1)
    existing[truth == 0] = 100  # person 0 already numbered
    existing[(truth == 1) & (np.arange(len(faces)) % 5 < 2)] = 200  # part of person 1 ...
    existing[(truth == 1) & (np.arange(len(faces)) % 5 >= 2)] = 300  # ... split by an examiner
    result = cluster_faces(faces, existing)
    assert np.array_equal(result.labels[existing >= 0], existing[existing >= 0])
    assert result.new_groups == 2  # persons 2 and 3; 200 and 300 were not joined
    # the caller numbers the new groups (refresh makes them persons); then new faces arrive
    numbered = np.where(result.labels < 0, 1000 - result.labels, result.labels)
    more = np.stack([_near(rng, faces[0], 0.85), _near(rng, faces[12], 0.85)])
    again = cluster_faces(np.vstack([faces, more]), np.r_[numbered, -1, -1])
    assert np.array_equal(again.labels[:-2], numbered)
    assert again.labels[-2] == 100  # a new face of person 0 joins its numbered group
    assert again.labels[-1] == numbered[12]  # and one of person 2 joins that group
    assert again.new_groups == 0


def test_dissimilar_faces_stay_apart() -> None:
    rng = np.random.default_rng(7)
    faces = _unit(rng, 50)  # random directions: cosine ~ 0 +- 0.09
    assert cluster_faces(faces).new_groups == 50


# -- folders ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane_Doe", True),
        ("jane doe", True),
        ("JaneDoe", True),
        ("Zoë-Martín", True),
        ("Jane_Doe_2", True),
        ("DCIM", False),
        ("Camera_Roll", False),
        ("s12", False),
        ("yaleB11", False),
        ("IMG_2041", False),
        ("Jane", False),
    ],
)
def test_folder_names_that_look_like_a_person(name: str, expected: bool) -> None:
    assert looks_like_a_name(name) is expected


def test_folder_named_after_an_enrolled_person() -> None:
    enrolled = {"E1": "Jane Doe", "E2": "John Q. Public", "E3": "Zoë"}
    assert named_after("jane_doe", enrolled) == ["E1"]
    assert named_after("Doe_Jane", enrolled) == ["E1"]
    assert named_after("John_Public", enrolled) == ["E2"]
    assert named_after("Zoe", enrolled) == ["E3"]
    assert named_after("Jane", enrolled) == []  # one word of a two-word name: not enough
    assert named_after("Jane_Smith", enrolled) == []


def test_reconciliation_flags_spread_mixed_and_misnamed_folders() -> None:
    def image(path: str, *persons: str) -> FolderImage:
        return FolderImage(folder_of(path), path, frozenset(persons), bool(persons))

    images = [
        image("/ev/Jane_Doe/1.jpg", "E1"),
        image("/ev/Jane_Doe/2.jpg", "E1"),
        image("/ev/Jane_Doe/3.jpg", "U1"),  # misfiled
        image("/ev/Max_Mustermann/1.jpg", "U1"),
        image("/ev/Max_Mustermann/2.jpg", "U1"),
        image("/ev/Tom_Lee/1.jpg", "U2"),  # named after enrolled Tom Lee, who is not in it
        image("/ev/phone.zip!/DCIM/9.jpg", "E1"),
        image("/ev/phone.zip!/DCIM/10.jpg"),
    ]
    reports, issues = reconcile(images, {"E1": "Jane Doe", "E2": "Tom Lee"})
    by_folder = {r.folder: r for r in reports}
    assert by_folder["/ev/Jane_Doe"].persons == {"E1": 2, "U1": 1}
    assert by_folder["/ev/Jane_Doe"].named_after == ["E1"]
    assert by_folder["/ev/phone.zip!/DCIM"].images == 2
    assert not by_folder["/ev/phone.zip!/DCIM"].name_like
    kinds = {(i.kind, i.folders[0] if i.folders else "") for i in issues}
    assert ("folder_mixes_persons", "/ev/Jane_Doe") in kinds
    assert ("named_person_missing", "/ev/Tom_Lee") in kinds
    assert ("folder_named_like_a_person", "/ev/Max_Mustermann") in kinds
    spread = [i for i in issues if i.kind == "person_in_several_folders"]
    assert {i.persons[0] for i in spread} == {"E1", "U1"}
    assert ("named_person_missing", "/ev/Jane_Doe") not in kinds  # E1 is 2 of 3
