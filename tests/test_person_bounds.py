"""Honest person-count bounds and review flags (issue 13): the count's range contains every
reading of the evidence, each widening has a reason, and the persons behind it are flagged.

Embeddings are synthetic unit vectors (no images): "look-alikes" share a common direction, so
that the clustering joins them at 0.46 while a stricter re-clustering separates them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from consentry.persons import findings
from consentry.persons.clustering import SUBCLUSTER_SIMILARITY, linked_groups, subclusters
from consentry.persons.findings import (
    COULD_BE_ENROLLED,
    COULD_BE_SAME_GROUP,
    FILLS_ENROLLED_FOLDER,
    LIKELY_ENROLLED,
    ONLY_POSSIBLE,
    SPANS_NAMED_FOLDERS,
    SPLITS_INTO_SUBCLUSTERS,
    CountBlock,
    GroupFaces,
    PersonSummary,
    count_persons,
)
from consentry.persons.folders import FolderImage, folder_of, held_folders, reconcile
from consentry.store.persons_store import ENROLLED, UNIDENTIFIED, FaceAttribution, PersonRow

RNG = np.random.default_rng(20261202)
DIM = 128


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def look_alikes(persons: int, per: int, shared: float = 0.72, noise: float = 0.08) -> np.ndarray:
    """``persons`` x ``per`` faces: each person's own direction plus a direction all share.
    Across persons the similarity is about shared**2 (0.52: joined at 0.46, apart at 0.55)."""
    q, _ = np.linalg.qr(RNG.normal(size=(DIM, persons + 1)))  # orthonormal directions
    common, own = q[:, 0], q[:, 1:].T
    centres = shared * common + np.sqrt(1 - shared**2) * own
    x = np.repeat(centres, per, axis=0) + RNG.normal(size=(persons * per, DIM)) * noise / 11
    return _unit(x).astype(np.float32)


def _sha(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()


def _group(code: str, paths: list[str], emb: np.ndarray | None = None, **kw: object) -> tuple:
    shas = [_sha(p) for p in paths]
    items = sorted(paths)
    s = PersonSummary(
        id=code,
        kind=UNIDENTIFIED,
        name=None,
        images=len(items),
        unique_images=len(set(shas)),
        explicit_images=0,
        folders=[],
        items=items,
        faces=len(paths),
        similarity=None,
        weak=len(set(shas)) < findings.MIN_IMAGES_STRONG,
        evidence="",
        likely_enrolled=kw.pop("likely", None),  # type: ignore[arg-type]
    )
    if emb is None:
        emb = _unit(RNG.normal(size=(1, DIM))) + RNG.normal(size=(len(paths), DIM)) * 0.01
        emb = _unit(emb).astype(np.float32)
    g = GroupFaces(emb, tuple(shas), dict(kw.pop("possible_of", {})))  # type: ignore[call-overload]
    return s, g


def _enrolled(code: str, name: str, paths: list[str], possible: int = 0) -> PersonSummary:
    return PersonSummary(
        id=code,
        kind=ENROLLED,
        name=name,
        images=len(paths),
        unique_images=len(paths),
        explicit_images=0,
        folders=[],
        items=sorted(paths),
        faces=len(paths),
        similarity=None,
        weak=not paths,
        evidence="",
        possible_images=possible,
    )


def _count(
    summaries: list[PersonSummary],
    groups: dict[str, GroupFaces],
    only_unattributed: int = 0,
) -> CountBlock:
    codes_in: dict[str, set[str]] = {}
    for s in summaries:
        for p in s.items:
            codes_in.setdefault(p, set()).add(s.id)
    images = [FolderImage(folder_of(p), p, frozenset(c), True) for p, c in codes_in.items()]
    names = {s.id: s.name for s in summaries if s.kind == ENROLLED and s.name}
    reports, _ = reconcile(images, names)
    paths_by_sha: dict[str, list[str]] = {}
    for p in codes_in:
        paths_by_sha.setdefault(_sha(p), []).append(p)
    return count_persons(
        summaries, groups, reports, paths_by_sha, images_only_unattributed=only_unattributed
    )


def _check_widenings(c: CountBlock) -> None:
    """Each bound's distance from the estimate is accounted for, line by line."""
    assert c.lower_bound <= c.estimate <= c.upper_bound
    assert sum(w.persons for w in c.widened if w.bound == "lower") == c.estimate - c.lower_bound
    assert sum(w.persons for w in c.widened if w.bound == "upper") == c.upper_bound - c.estimate
    assert all(w.persons > 0 and w.text for w in c.widened)


def _files(folder: str, n: int) -> list[str]:
    return [f"/ev/{folder}/{i}.jpg" for i in range(n)]


def test_a_group_filling_three_person_named_folders_widens_the_bounds_and_is_flagged() -> None:
    """The demo's U1: three look-alikes in Devon_Price, Finley_Shaw, Rowan_Ellis, one group."""
    paths = _files("Devon_Price", 4) + _files("Finley_Shaw", 4) + _files("Rowan_Ellis", 4)
    u1, g1 = _group("U1", paths, look_alikes(3, 4))
    u2, g2 = _group("U2", _files("Kai_Brooks", 4))
    c = _count([u1, u2], {"U1": g1, "U2": g2})
    assert (c.lower_bound, c.estimate) == (2, 4)  # the faces' reading and the folders' reading
    assert c.upper_bound >= 4
    _check_widenings(c)
    (flag,) = [f for f in u1.review if f.reason == SPANS_NAMED_FOLDERS]
    assert flag.person == "U1"
    assert flag.folders == ("/ev/Devon_Price", "/ev/Finley_Shaw", "/ev/Rowan_Ellis")
    assert flag.estimate_adds == 2
    assert "3 different people" in flag.message
    assert u1.counted_as == 3 and u2.counted_as == 1 and not u2.review


def test_bounds_have_zero_width_only_when_nothing_is_uncertain() -> None:
    e1 = _enrolled("E1", "Avery Lane", _files("Avery_Lane", 3))
    u1, g1 = _group("U1", _files("Kai_Brooks", 4))
    u2, g2 = _group("U2", _files("Harper_Quinn", 3) + ["/ev/DCIM/x.jpg"])
    c = _count([e1, u1, u2], {"U1": g1, "U2": g2})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (3, 3, 3)
    assert c.widened == [] and not (e1.review or u1.review or u2.review)


@pytest.mark.parametrize(
    ("case", "lower", "estimate", "upper"),
    [
        ("weak group", 2, 3, 3),
        ("possible-only enrolled", 2, 2, 3),
        ("likely enrolled group", 2, 2, 3),
        ("image of unattributed faces", 2, 2, 3),
    ],
)
def test_each_uncertainty_widens_a_bound_with_its_reason(
    case: str, lower: int, estimate: int, upper: int
) -> None:
    e1 = _enrolled("E1", "Avery Lane", _files("Avery_Lane", 3))
    u1, g1 = _group("U1", _files("Kai_Brooks", 4))
    summaries, groups, alone = [e1, u1], {"U1": g1}, 0
    if case == "weak group":
        u2, g2 = _group("U2", ["/ev/misc/one.jpg"])
        summaries.append(u2)
        groups["U2"] = g2
    elif case == "possible-only enrolled":
        summaries.append(_enrolled("E2", "Blake Moreno", [], possible=2))
    elif case == "likely enrolled group":
        u2, g2 = _group("U2", _files("misc", 2), likely="E1")
        summaries.append(u2)
        groups["U2"] = g2
    else:
        alone = 1
    c = _count(summaries, groups, alone)
    assert (c.lower_bound, c.estimate, c.upper_bound) == (lower, estimate, upper)
    _check_widenings(c)
    if case == "possible-only enrolled":
        assert [f.reason for f in summaries[-1].review] == [ONLY_POSSIBLE]
    if case == "likely enrolled group":
        assert [f.reason for f in summaries[-1].review] == [LIKELY_ENROLLED]


def test_faces_that_split_into_sub_clusters_widen_the_upper_bound_only() -> None:
    """Two look-alikes in one group, filed in one folder that is not named like a person."""
    u1, g1 = _group("U1", _files("Downloads", 10), look_alikes(2, 5))
    c = _count([u1], {"U1": g1})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 1, 2)
    _check_widenings(c)
    (flag,) = u1.review
    assert flag.reason == SPLITS_INTO_SUBCLUSTERS and flag.upper_adds == 1
    assert [s.images for s in flag.subclusters] == [5, 5]
    assert sorted(p for s in flag.subclusters for p in s.items) == u1.items


def test_one_persons_faces_do_not_split() -> None:
    x = look_alikes(1, 12, noise=0.5)
    assert len(set(subclusters(x).tolist())) == 1
    u1, g1 = _group("U1", _files("Downloads", 12), x)
    c = _count([u1], {"U1": g1})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 1, 1) and not u1.review


def test_look_alikes_are_one_group_at_the_linkage_and_apart_at_the_sub_cluster_threshold() -> None:
    from consentry.persons.clustering import cluster_faces

    x = look_alikes(3, 4)
    assert cluster_faces(x).new_groups == 1
    assert len(set(subclusters(x, SUBCLUSTER_SIMILARITY).tolist())) == 3


def test_a_group_mostly_possible_for_an_enrolled_person_is_counted_once_with_them() -> None:
    e1 = _enrolled("E1", "Avery Lane", _files("Avery_Lane", 3))
    e2 = _enrolled("E2", "Blake Moreno", _files("Blake_Moreno", 3))
    u1, g1 = _group("U1", _files("Kai_Brooks", 4), possible_of={"E1": 3, "E2": 2})
    c = _count([e1, e2, u1], {"U1": g1})
    # U1 could be E1 or E2, but E1 and E2 are two persons: at least 2
    assert (c.lower_bound, c.estimate, c.upper_bound) == (2, 3, 3)
    _check_widenings(c)
    assert {(f.reason, f.related) for f in u1.review} == {
        (COULD_BE_ENROLLED, ("E1",)),
        (COULD_BE_ENROLLED, ("E2",)),
    }


def test_a_group_filling_the_folder_named_after_an_enrolled_person_could_be_them() -> None:
    e1 = _enrolled("E1", "Avery Lane", _files("misc", 3))
    u1, g1 = _group("U1", _files("Avery_Lane", 4))
    c = _count([e1, u1], {"U1": g1})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 2, 2)
    _check_widenings(c)
    assert [(f.reason, f.related) for f in u1.review] == [(FILLS_ENROLLED_FOLDER, ("E1",))]


def test_groups_as_similar_as_a_possible_match_count_once_in_the_lower_bound() -> None:
    x = look_alikes(2, 4, shared=0.66)  # across persons ~0.44: apart at 0.46, within 0.41
    sums, sizes = np.stack([x[:4].sum(0), x[4:].sum(0)]), np.array([4.0, 4.0])
    ((i, j, link),) = linked_groups(sums, sizes, 0.41)
    assert (i, j) == (0, 1) and 0.41 <= link < 0.46
    assert linked_groups(sums, sizes, 0.46) == []
    u1, g1 = _group("U1", _files("Kai_Brooks", 4), x[:4])
    u2, g2 = _group("U2", _files("Harper_Quinn", 4), x[4:])
    c = _count([u1, u2], {"U1": g1, "U2": g2})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 2, 2)
    _check_widenings(c)
    assert [f.reason for f in u1.review] == [COULD_BE_SAME_GROUP]
    assert u1.review[0].related == ("U2",) and u2.review[0].related == ("U1",)


def test_held_folders_need_the_person_to_be_the_main_one() -> None:
    images = [
        FolderImage("/ev/Jane_Doe", f"/ev/Jane_Doe/{i}.jpg", frozenset({"U1"}), True)
        for i in range(3)
    ]
    images += [
        FolderImage("/ev/Jane_Doe", f"/ev/Jane_Doe/o{i}.jpg", frozenset({"U2"}), True)
        for i in range(4)
    ]
    images += [FolderImage("/ev/DCIM", "/ev/DCIM/1.jpg", frozenset({"U1"}), True)]
    reports, _ = reconcile(images, {})
    assert held_folders("U1", reports) == []  # a misfiled minority, and a folder not a name
    (held,) = held_folders("U2", reports)
    assert (held.folder, held.name, held.images, held.images_with_faces) == (
        "/ev/Jane_Doe",
        "jane doe",
        4,
        7,
    )


def _row(code: str, kind: str = UNIDENTIFIED) -> PersonRow:
    return PersonRow(1, code, kind, None, "active", None, None, None, "2026-12-02", None)


def test_a_face_seen_at_two_locations_of_one_image_reads_right() -> None:
    face = FaceAttribution(("a" * 64, 0), True, True, 1, None, None, None)
    s = findings._unidentified(
        _row("U7"), [face], {"a" * 64: ["/ev/x.jpg", "/ev/copy/x.jpg"]}, set(), None, None, []
    )
    assert s.images == 2 and s.unique_images == 1 and s.weak
    assert s.evidence == "seen in one distinct image only (1 face, the same file at 2 locations)"
    assert "weak" not in s.evidence  # the shells add "weak:" themselves


def test_possible_matches_are_listed_per_person_with_their_similarity() -> None:
    key = "k" * 64
    match = FaceAttribution(("m" * 64, 0), True, True, None, 1, "match", 0.8)
    leads = [
        FaceAttribution(("p" * 64, 0), True, True, None, 1, "possible", 0.43),
        FaceAttribution(("q" * 64, 1), False, True, None, 1, "possible", 0.55),
        FaceAttribution(("r" * 64, 0), True, True, 4, 1, "possible", 0.5),
    ]
    paths = {
        "m" * 64: ["/ev/m.jpg"],
        "p" * 64: ["/ev/p.jpg"],
        "q" * 64: ["/ev/q.jpg", "/ev/q2.jpg"],
        "r" * 64: ["/ev/r.jpg"],
        key: [],
    }
    consent = json.dumps({"consented_by": "x"})
    row = PersonRow(1, "E1", ENROLLED, "Avery Lane", "active", None, consent, None, "", None)
    s = findings._enrolled(row, [match], leads, paths, set(), True)
    assert [(m.path, m.similarity) for m in s.possible] == [
        ("/ev/q.jpg", 0.55),
        ("/ev/q2.jpg", 0.55),
        ("/ev/r.jpg", 0.5),
        ("/ev/p.jpg", 0.43),
    ]
    assert s.possible[0].usable is False and "not usable" in s.possible[0].why
    assert "group" in s.possible[2].why and "between" in s.possible[3].why
    assert s.possible_images == 4 and s.images == 1


def test_the_report_of_a_case_store_flags_the_merged_group(tmp_path: Path) -> None:
    """Through the store: faces of three look-alikes in three person-named folders become one
    group (U1), and the persons report says so, in its JSON too."""
    from consentry.persons.refresh import refresh_identities
    from consentry.store.case import open_case

    case = open_case(tmp_path / "case", create=True)
    x = look_alikes(3, 4)
    folders = ["Devon_Price", "Finley_Shaw", "Rowan_Ellis"]
    paths = [f"/ev/{folders[i // 4]}/{i}.jpg" for i in range(12)]
    with case.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (id, path_key, path, raw_path, kind) VALUES (1, ?, '/ev', ?, "
            "'folder')",
            ("0" * 64, b"/ev"),
        )
        for i, (path, v) in enumerate(zip(paths, x, strict=True)):
            sha = _sha(path)
            conn.exec_driver_sql(
                "INSERT INTO contents (sha256, md5, sha1, size, mime, is_image) "
                "VALUES (?, '', '', 0, 'image/jpeg', 1)",
                (sha,),
            )
            conn.exec_driver_sql(
                "INSERT INTO locations (path_key, source_id, path, rel_path, raw_path, "
                "member_chain, sha256, state) VALUES (?, 1, ?, ?, ?, '[]', ?, 'done')",
                (_sha("key" + path), path, path[4:], path.encode(), sha),
            )
            conn.exec_driver_sql(
                "INSERT INTO faces (sha256, face_index, box_x, box_y, box_w, box_h, "
                "analysis_side, landmarks, detector_score, size_px, sharpness, frontalness, "
                "usable, flags, embedding) VALUES (?, 0, 0, 0, 100, 100, 512, '[]', 0.9, 100, "
                "100, 1, 1, '', ?)",
                (sha, v.astype("<f4").tobytes()),
            )
            assert i >= 0
    refresh_identities(case.store, case.path)
    report = findings.build_report(case.persons)
    case.close()
    (u1,) = report.persons
    assert u1.id == "U1" and u1.images == 12
    c = report.count
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 3, 3)
    data = json.loads(json.dumps(report.as_dict()))
    assert [f["reason"] for f in data["review"]] == [SPANS_NAMED_FOLDERS, SPLITS_INTO_SUBCLUSTERS]
    assert data["review"][0]["folders"] == [f"/ev/{f}" for f in folders]
    assert len(data["review"][1]["subclusters"]) == 3
    assert {w["bound"] for w in data["count"]["widened"]} == {"lower"}


def test_enrolled_matches_that_fill_anothers_folder_and_split_widen_the_upper_bound() -> None:
    """Seen on the calibration split: an enrolled synthetic person matched at `match` level to a
    look-alike's photos, filed in the look-alike's folder. The match stays (the faces decide an
    identification), but the upper bound keeps room for the look-alike, and E1 is flagged."""
    paths = _files("Avery_Lane", 4) + _files("Skyler_Vale", 4)
    e1 = _enrolled("E1", "Avery Lane", paths)
    _, g = _group("E1", paths, look_alikes(2, 4))
    c = _count([e1], {"E1": g})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 1, 2)
    _check_widenings(c)
    assert [(f.reason, f.folders, f.upper_adds) for f in e1.review] == [
        (findings.FILLS_OTHERS_FOLDERS, ("/ev/Skyler_Vale",), 1),
        (SPLITS_INTO_SUBCLUSTERS, ("/ev/Avery_Lane", "/ev/Skyler_Vale"), 0),
    ]


def test_an_enrolled_persons_own_faces_raise_no_flag() -> None:
    paths = _files("Avery_Lane", 6) + ["/ev/misc/a.jpg"]
    e1 = _enrolled("E1", "Avery Lane", paths)
    _, g = _group("E1", paths, look_alikes(1, 7, noise=0.5))
    c = _count([e1], {"E1": g})
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 1, 1) and not e1.review


def test_a_large_group_is_re_clustered_on_a_sample_and_every_face_placed() -> None:
    from consentry.persons.clustering import SUBCLUSTER_SAMPLE

    x = look_alikes(2, 300)
    assert len(x) > SUBCLUSTER_SAMPLE
    labels = subclusters(x)
    assert len(labels) == 600
    assert len(set(labels[:300].tolist())) == 1 and len(set(labels[300:].tolist())) == 1
    assert labels[0] != labels[300]


def test_a_sub_cluster_too_small_for_its_group_is_no_further_person() -> None:
    """A sub-cluster of 2 images in a group of 60: under 5 % of the group's images."""
    x = np.concatenate([look_alikes(1, 58, noise=0.3), look_alikes(1, 2, noise=0.3)])
    assert len(set(subclusters(x).tolist())) == 2  # the faces do split ...
    u1, g1 = _group("U1", _files("Downloads", 60), x)
    c = _count([u1], {"U1": g1})
    # ... but 2 of 60 images is under SUBCLUSTER_MIN_SHARE: no further person, no flag
    assert (c.lower_bound, c.estimate, c.upper_bound) == (1, 1, 1) and not u1.review
