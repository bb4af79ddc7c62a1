"""Issue 14 part C: the review services behind the web pages (gallery, detail, reveal, tags,
face decisions, persons, problems, audit, hash packs) on a small case of harmless synthetic
people (``security_case``: two enrolled persons, every image called explicit by a stand-in, so
every thumbnail is blurred)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import insert, select

from consentry.services import review
from consentry.services.access import Account, Role
from consentry.services.case import CaseHandle, CaseRef, ErrorCode, ServiceError
from consentry.store.schema import User

from .security_case import build_case

OWN = ["Avery_Lane/IMG_0042.jpg", "Avery_Lane/trip/IMG_0043.jpg"]
OTHER = ["Blake_Moreno/IMG_0100.jpg"]
EXAMINER = Account(1, "erin", Role.EXAMINER)
REVIEWER = Account(2, "rory", Role.REVIEWER)
MANAGER = Account(3, "cass", Role.CASE_MANAGER)


def advocate(code: str) -> Account:
    return Account(4, "ada", Role.ADVOCATE, (code,))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("review")
    case_dir, _evidence, codes = build_case(root, {0: OWN, 1: OTHER}, broken=["Blake_Moreno/x.jpg"])
    return case_dir, codes


@pytest.fixture
def case(built: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[CaseHandle]:
    """A fresh copy of the built case (tests write tags, decisions, grants)."""
    copy = tmp_path / "case"
    shutil.copytree(built[0], copy)
    h = CaseHandle(CaseRef(copy))
    with h.writing() as c, c.store.engine.begin() as conn:
        for a in (EXAMINER, REVIEWER, MANAGER, advocate("E1")):
            conn.execute(
                insert(User).values(
                    id=a.id,
                    name=a.name,
                    role=a.role.value,
                    password_hash="x",
                    scope=json.dumps(list(a.scope)),
                    disabled=False,
                    created_at="2026-12-02T10:00:00+00:00",
                    created_by="test",
                )
            )
    yield h
    h.close()


def codes_of(built: tuple[Path, dict[str, str]]) -> tuple[str, str]:
    codes = built[1]
    return codes["Avery Lane"], codes["Blake Moreno"]


def all_tiles(h: CaseHandle, account: Account, **f: object) -> list[review.GalleryTile]:
    page = review.gallery(h, account, review.GalleryFilter(per_page=200, **f))  # type: ignore[arg-type]
    return list(page.tiles)


def shas_of_person(h: CaseHandle, code: str) -> set[str]:
    return {t.sha256 for t in all_tiles(h, EXAMINER, person=code)}


def actions(h: CaseHandle) -> list[str]:
    return [e.action for e in review.audit_view(h, EXAMINER).events]


def code(exc: pytest.ExceptionInfo[ServiceError]) -> ErrorCode:
    return exc.value.code


# -- gallery ---------------------------------------------------------------------------------
def test_gallery_filters_and_paging(case: CaseHandle, built: tuple[Path, dict[str, str]]) -> None:
    e1, e2 = codes_of(built)
    every = all_tiles(case, EXAMINER)
    assert len(every) == 5  # two selfies, two variants of Avery's, one of Blake's
    assert all(t.blurred and t.label == "explicit" for t in every)
    assert all(t.has_thumbnail for t in every)
    page = review.gallery(case, EXAMINER, review.GalleryFilter(page=2, per_page=2))
    assert (page.total, page.pages, page.page, len(page.tiles)) == (5, 3, 2, 2)
    assert {t.sha256 for t in page.tiles} <= {t.sha256 for t in every}
    last = review.gallery(case, EXAMINER, review.GalleryFilter(page=3, per_page=2))
    assert len(last.tiles) == 1
    assert all_tiles(case, EXAMINER, label="none") == []
    assert len(all_tiles(case, EXAMINER, label="explicit")) == 5
    avery = all_tiles(case, EXAMINER, person=e1)
    assert len(avery) == 3 and all(e1 in t.persons for t in avery)
    assert len(all_tiles(case, EXAMINER, person=e2)) == 2
    folder = next(f for f in page.facets.folders if f.endswith("Avery_Lane/trip"))
    assert [t.name for t in all_tiles(case, EXAMINER, folder=folder)] == ["IMG_0043.jpg"]
    parent = folder.rsplit("/", 1)[0]
    assert len(all_tiles(case, EXAMINER, folder=parent)) == 3
    assert len(all_tiles(case, EXAMINER, derivation="none")) == 5
    assert all_tiles(case, EXAMINER, derivation="derived") == []
    assert set(page.facets.persons) == {e1, e2}
    assert page.facets.tags == review.TAGS
    with pytest.raises(ServiceError) as exc:
        review.gallery(case, EXAMINER, review.GalleryFilter(label="nsfw"))
    assert code(exc) == ErrorCode.MISUSE
    with pytest.raises(ServiceError) as exc:
        review.gallery(case, EXAMINER, review.GalleryFilter(person="E99"))
    assert code(exc) == ErrorCode.NOT_FOUND


# -- tags ------------------------------------------------------------------------------------
def test_tags(case: CaseHandle) -> None:
    sha = all_tiles(case, EXAMINER)[0].sha256
    assert review.tag_image(case, EXAMINER, sha, "relevant", True) == ("relevant",)
    assert review.tag_image(case, EXAMINER, sha, "reviewed", True) == ("relevant", "reviewed")
    assert [t.sha256 for t in all_tiles(case, EXAMINER, tag="relevant")] == [sha]
    assert review.tag_image(case, EXAMINER, sha, "relevant", False) == ("reviewed",)
    assert all_tiles(case, EXAMINER, tag="relevant") == []
    assert review.image_detail(case, EXAMINER, sha).tags == ("reviewed",)
    assert actions(case).count("image_tagged") == 3
    with pytest.raises(ServiceError) as exc:
        review.tag_image(case, EXAMINER, sha, "nice", True)
    assert code(exc) == ErrorCode.MISUSE
    with pytest.raises(ServiceError) as exc:
        review.tag_image(case, REVIEWER, sha, "relevant", True)
    assert code(exc) == ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as exc:
        review.tag_image(case, EXAMINER, "0" * 64, "relevant", True)
    assert code(exc) == ErrorCode.NOT_FOUND


# -- reveal ----------------------------------------------------------------------------------
def test_reveal_needs_an_examiner_a_reason_and_expires(case: CaseHandle) -> None:
    sha = all_tiles(case, EXAMINER)[0].sha256
    t0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    for who in (REVIEWER, MANAGER, advocate("E1")):
        with pytest.raises(ServiceError) as exc:
            review.reveal(case, who, sha, "checking the face", now=t0)
        assert code(exc) == ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as exc:
        review.reveal(case, EXAMINER, sha, "  ok  ", now=t0)
    assert code(exc) == ErrorCode.MISUSE and "at least 5 characters" in exc.value.message
    with pytest.raises(ServiceError) as exc:
        review.revealed_image(case, EXAMINER, sha, now=t0)
    assert code(exc) == ErrorCode.FORBIDDEN and "reveal this image first" in exc.value.message
    with pytest.raises(ServiceError) as exc:  # the command line has no web account
        review.reveal(case, Account.local("x"), sha, "compare with the portrait", now=t0)
    assert code(exc) == ErrorCode.FORBIDDEN
    grant = review.reveal(case, EXAMINER, sha, "  compare with the portrait ", now=t0)
    assert grant.expires_at.startswith("2026-12-02T12:05:00")
    shown = review.revealed_image(case, EXAMINER, sha, now=t0 + timedelta(minutes=4))
    assert shown.media_type == "image/jpeg"
    img = Image.open(io.BytesIO(shown.data))
    assert img.format == "JPEG" and max(img.size) <= review.REVEAL_SIDE
    with pytest.raises(ServiceError) as exc:
        review.revealed_image(case, EXAMINER, sha, now=t0 + timedelta(minutes=5, seconds=1))
    assert code(exc) == ErrorCode.FORBIDDEN
    events = review.audit_view(case, EXAMINER).events
    revealed = [json.loads(e.payload) for e in events if e.action == "image_revealed"]
    assert revealed == [
        {"sha256": sha, "reason": "compare with the portrait", "expires_at": grant.expires_at}
    ]
    assert [e.actor for e in events if e.action == "image_revealed"] == ["erin"]
    assert review.audit_view(case, EXAMINER).intact


# -- face decisions --------------------------------------------------------------------------
def test_decisions_change_the_persons_findings(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    from consentry.persons.findings import build_report

    e1, e2 = codes_of(built)
    before = shas_of_person(case, e1)
    sha = sorted(before)[0]
    with pytest.raises(ServiceError) as exc:
        review.decide_face(case, REVIEWER, sha, 0, e1, "rejected")
    assert code(exc) == ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as exc:
        review.decide_face(case, EXAMINER, sha, 0, e1, "maybe")
    assert code(exc) == ErrorCode.MISUSE
    review.decide_face(case, EXAMINER, sha, 0, e1, "rejected")
    assert shas_of_person(case, e1) == before - {sha}

    def items(code_: str) -> int:
        with case.reading() as c:
            report = build_report(c.persons)
        return sum(len(s.items) for s in report.persons if s.id == code_)

    n1, n2 = items(e1), items(e2)
    review.decide_face(case, EXAMINER, sha, 0, e2, "confirmed")
    assert sha in shas_of_person(case, e2) and sha not in shas_of_person(case, e1)
    assert (items(e1), items(e2)) == (n1, n2 + 1)
    face = review.image_detail(case, EXAMINER, sha).faces[0]
    assert (face.person, face.level, face.decision, face.decided_person) == (
        e2,
        "match",
        "confirmed",
        e2,
    )
    payloads = [json.loads(e.payload) for e in review.audit_view(case, EXAMINER).events]
    assert {"sha256": sha, "face_index": 0, "person": e2, "decision": "confirmed"} in payloads
    assert actions(case).count("face_decided") == 2


# -- detail, persons, problems, audit, dashboard, packs ---------------------------------------
def test_detail_persons_problems_dashboard(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    e1, e2 = codes_of(built)
    sha = sorted(shas_of_person(case, e1))[0]
    d = review.image_detail(case, EXAMINER, sha)
    assert d.sha256 == sha and len(d.md5) == 32 and len(d.sha1) == 40
    assert d.label == "explicit" and d.blurred and d.can_reveal
    assert d.locations and all(p.endswith(".jpg") for p in d.locations)
    assert d.faces and d.faces[0].person == e1 and d.faces[0].person_name == "Avery Lane"
    assert not review.image_detail(case, REVIEWER, sha).can_reveal
    view = review.persons_view(case, EXAMINER)
    assert {(p.code, p.images) for p in view.persons} >= {(e1, 3), (e2, 2)}
    problems = review.problems_view(case, EXAMINER)
    assert any(p.path.endswith("Blake_Moreno/x.jpg") for p in problems)
    assert review.problems_view(case, Account(5, "x", Role.ADVOCATE, ())) == ()
    assert review.problems_view(case, advocate(e1)) == ()  # the broken file is no one's
    with pytest.raises(ServiceError) as exc:
        review.audit_view(case, advocate(e1))
    assert code(exc) == ErrorCode.FORBIDDEN
    board = review.dashboard(case, EXAMINER)
    assert (board.images, board.persons, board.errors) == (5, 2, 1)
    assert board.labels == (review.LabelCount("explicit", 5),) and board.scans
    assert board.case_counts is not None and board.case_counts.unique_images == 5
    mine = review.dashboard(case, advocate(e1))
    assert (mine.images, mine.persons, mine.errors, mine.scans) == (3, 1, 0, ())
    assert mine.case_counts is None and mine.overdue == ()


def test_hash_pack(case: CaseHandle, built: tuple[Path, dict[str, str]]) -> None:
    e1, e2 = codes_of(built)
    pack = review.hash_pack(case, advocate(e1), e1)
    assert pack.filename == f"hashpack-{e1}.zip" and pack.media_type == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(pack.data)).namelist()
    assert names
    for who, person, err in (
        (advocate(e1), e2, ErrorCode.NOT_FOUND),
        (REVIEWER, e1, ErrorCode.FORBIDDEN),
        (EXAMINER, "E99", ErrorCode.NOT_FOUND),
    ):
        with pytest.raises(ServiceError) as exc:
            review.hash_pack(case, who, person)
        assert code(exc) == err


def test_erasing_a_person_takes_their_decisions_and_the_faces_confirmed_as_them(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    from consentry.services.persons import RemoveRequest, remove_person
    from consentry.store.schema import FaceDecision, FaceRow

    e1, e2 = codes_of(built)
    sha = sorted(shas_of_person(case, e1))[0]
    review.decide_face(case, EXAMINER, sha, 0, e2, "confirmed")
    assert sha in shas_of_person(case, e2)
    remove_person(RemoveRequest(case.ref, e2, "erin", "consent withdrawn"))
    F, D = FaceRow.__table__, FaceDecision.__table__
    with case.reading() as c, c.store.engine.connect() as conn:
        assert conn.execute(select(D)).all() == []
        face = conn.execute(select(F).where(F.c.sha256 == sha, F.c.face_index == 0)).one()
    assert face.embedding is None and face.crop_path is None and "erased" in face.flags
    assert [p.code for p in review.persons_view(case, EXAMINER).persons] == [e1]


def test_merge_and_split_need_decide_persons_and_known_groups(case: CaseHandle) -> None:
    for call, args in (
        (review.merge_groups, ("U98", "U99")),
        (review.split_group, ("U99", [("0" * 64, 0)])),
    ):
        with pytest.raises(ServiceError) as exc:
            call(case, REVIEWER, *args)  # type: ignore[operator]
        assert code(exc) == ErrorCode.FORBIDDEN
        with pytest.raises(ServiceError) as exc:
            call(case, EXAMINER, *args)  # type: ignore[operator]
        assert code(exc) == ErrorCode.NOT_FOUND


def test_merge_groups(case: CaseHandle) -> None:
    with case.reading() as c:
        groups = [p.code for p in c.persons.persons() if p.kind == "unidentified"]
    assert len(groups) >= 2, groups
    review.merge_groups(case, EXAMINER, groups[0], groups[1])
    with case.reading() as c:
        row = c.persons.person(groups[0])
    assert row is not None and row.status == "merged"
    assert actions(case)[-1] == "persons_merged"
    assert review.audit_view(case, EXAMINER).events[-1].actor == "erin"
