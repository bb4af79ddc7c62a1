"""Issue 14 part C: an advocate sees only their persons' images, and every other id answers
NOT_FOUND exactly as an unknown one: images, thumbnails, face crops (also another person's face
in an in-scope picture), derivation renders; names are shown by the person-scoped reports'
neutral rule; possible matches are not in scope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from consentry.services import review
from consentry.services.access import Account, Role
from consentry.services.case import CaseHandle, ErrorCode, ServiceError
from consentry.store.links_store import LinkRecord
from consentry.store.schema import FaceMatch, FaceRow, Person

from .test_review_services import EXAMINER, advocate, all_tiles, built, case, codes_of

__all__ = ["built", "case"]  # the fixtures, shared with test_review_services


def not_found(call: object, *args: object) -> str:
    with pytest.raises(ServiceError) as exc:
        call(*args)  # type: ignore[operator]
    assert exc.value.code == ErrorCode.NOT_FOUND
    return exc.value.message


def edited(h: CaseHandle) -> None:
    """Record the test's direct edit as every change of a case is recorded: the services'
    caches follow the audit log's head."""
    with h.writing() as c:
        c.store.append_audit("test_edit", "test", {})


def person_id(h: CaseHandle, code: str) -> int:
    with h.reading() as c:
        row = c.persons.person(code)
    assert row is not None
    return row.id


def test_advocate_sees_only_their_images(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    e1, e2 = codes_of(built)
    mine = all_tiles(case, advocate(e1))
    assert {t.sha256 for t in mine} == {t.sha256 for t in all_tiles(case, EXAMINER, person=e1)}
    assert len(mine) == 3
    page = review.gallery(case, advocate(e1), review.GalleryFilter())
    assert page.total == 3 and page.facets.persons == (e1,) and page.facets.problems == ()
    shown = " ".join([*page.facets.folders, *(t.name + t.folder for t in mine)])
    for word in ("Blake", "Moreno", "IMG_0042", "IMG_0043", "trip", "selfie"):
        assert word not in shown
    assert all(t.name.startswith("[file ") and t.persons == (e1,) for t in mine)
    # a neutral folder filters as the real one
    trip = [f for f in page.facets.folders if f.count("[folder") >= 1]
    assert trip and len(all_tiles(case, advocate(e1), folder=trip[0])) == 1
    theirs = all_tiles(case, EXAMINER, person=e2)
    other = theirs[0].sha256
    unknown = not_found(review.image_detail, case, advocate(e1), "f" * 64)
    assert not_found(review.image_detail, case, advocate(e1), other) == unknown
    not_found(review.thumbnail_file, case, advocate(e1), other)
    not_found(review.face_crop_file, case, advocate(e1), other, 0)
    not_found(review.gallery, case, advocate(e1), review.GalleryFilter(person=e2))
    real = next(f for f in review.gallery(case, EXAMINER, review.GalleryFilter()).facets.folders)
    not_found(review.gallery, case, advocate(e1), review.GalleryFilter(folder=real))
    own = mine[0].sha256
    served = review.thumbnail_file(case, advocate(e1), own)
    assert served.path.is_file() and served.path.is_relative_to(case.path.resolve())
    detail = review.image_detail(case, advocate(e1), own)
    assert detail.faces[0].person == e1 and detail.faces[0].person_name is None
    assert not detail.can_reveal
    assert all("Avery" not in p and "IMG_" not in p for p in detail.locations)
    assert review.dashboard(case, advocate(e1)).images == 3
    assert [p.code for p in review.persons_view(case, advocate(e1)).persons] == [e1]
    assert review.persons_view(case, advocate(e1)).possible == ()
    # an advocate with nobody in scope sees nothing
    assert all_tiles(case, Account(9, "nobody", Role.ADVOCATE, ())) == []


def test_another_persons_face_in_an_in_scope_picture(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    e1, e2 = codes_of(built)
    sha = sorted(t.sha256 for t in all_tiles(case, EXAMINER, person=e1))[0]
    F, M = FaceRow.__table__, FaceMatch.__table__
    with case.writing() as c, c.store.engine.begin() as conn:
        face = conn.execute(select(F).where(F.c.sha256 == sha, F.c.face_index == 0)).one()
        assert face.crop_path, "the scan writes a crop for each face"
        row = {k: v for k, v in face._mapping.items() if k != "id"}
        conn.execute(insert(F).values({**row, "face_index": 1}))
        conn.execute(
            insert(M).values(
                sha256=sha, face_index=1, person_id=person_id(case, e2), level="match",
                similarity=0.9,
            )
        )  # fmt: skip
    edited(case)
    assert review.face_crop_file(case, advocate(e1), sha, 0).path.is_file()
    not_found(review.face_crop_file, case, advocate(e1), sha, 1)
    not_found(review.face_crop_file, case, advocate(e2), sha, 0)
    assert review.face_crop_file(case, advocate(e2), sha, 1).path.is_file()
    faces = review.image_detail(case, advocate(e1), sha).faces
    assert [(f.index, f.person, f.has_crop) for f in faces] == [(0, e1, True), (1, None, False)]
    not_found(review.face_crop_file, case, advocate(e1), sha, 7)


def test_possible_matches_and_rejections_are_not_in_scope(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    e1, _ = codes_of(built)
    shas = sorted(t.sha256 for t in all_tiles(case, advocate(e1)))
    M = FaceMatch.__table__
    with case.writing() as c, c.store.engine.begin() as conn:
        conn.execute(update(M).where(M.c.sha256 == shas[0]).values(level="possible"))
    edited(case)
    assert shas[0] not in {t.sha256 for t in all_tiles(case, advocate(e1))}
    not_found(review.thumbnail_file, case, advocate(e1), shas[0])
    review.decide_face(case, EXAMINER, shas[1], 0, e1, "rejected")
    assert {t.sha256 for t in all_tiles(case, advocate(e1))} == {shas[2]}
    review.decide_face(case, EXAMINER, shas[0], 0, e1, "confirmed")
    assert {t.sha256 for t in all_tiles(case, advocate(e1))} == {shas[0], shas[2]}


def test_renders_follow_the_scope_and_stay_in_the_case(
    case: CaseHandle, built: tuple[Path, dict[str, str]]
) -> None:
    e1, e2 = codes_of(built)
    derived, source = sorted(t.sha256 for t in all_tiles(case, EXAMINER, person=e2))
    folder = case.path / "renders" / "one"
    folder.mkdir(parents=True)
    for which in review.RENDERS:
        (folder / f"{which}.png").write_bytes(b"\x89PNG\r\n\x1a\n harmless stand-in")
    link = LinkRecord(
        derived, source, "1", json.dumps({}), 0.2, "[]", False, json.dumps({}), 0.9, "{}"
    )
    with case.writing() as c:
        c.links.replace_links([link], "test")
        c.links.set_render(derived, "renders/one", "{}")
    for who in (EXAMINER, advocate(e2)):
        got = review.render_file(case, who, derived, source, "mask")
        assert got.path == (folder / "mask.png").resolve() and got.media_type == "image/png"
    not_found(review.render_file, case, advocate(e1), derived, source, "mask")
    not_found(review.render_file, case, EXAMINER, derived, source, "../../case.sqlite")
    not_found(review.render_file, case, EXAMINER, source, derived, "mask")
    lines = review.image_detail(case, EXAMINER, derived).links
    assert [(x.role, x.other_sha256, x.renders) for x in lines] == [
        ("derived", source, review.RENDERS)
    ]
    assert [t.sha256 for t in all_tiles(case, EXAMINER, derivation="derived")] == [derived]
    assert [t.sha256 for t in all_tiles(case, EXAMINER, derivation="source")] == [source]
    # a render folder recorded outside the case folder is never served
    with case.writing() as c:
        c.links.set_render(derived, "../outside", "{}")
    (case.path.parent / "outside").mkdir()
    (case.path.parent / "outside" / "mask.png").write_bytes(b"not served")
    not_found(review.render_file, case, EXAMINER, derived, source, "mask")
    P = Person.__table__
    with case.reading() as c, c.store.engine.connect() as conn:
        assert conn.execute(select(P.c.code).where(P.c.code == e2)).scalar() == e2
