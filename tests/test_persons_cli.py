"""Persons end to end through the real CLI (in process): consent, enrollment that stores no
photo, encryption at rest, erasure, consent gating, stable clusters, merge/split, the report.

Faces are harmless LFW news photos from ../shared/data; the explicit-content analyzer is a
stand-in that labels every image explicit, so that explicit counts are exercised without any
explicit image.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from PIL import Image

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main
from consentry.media.decode import decode_image
from consentry.persons.template_crypto import ENV_VAR, key_file_path
from consentry.scan import pipeline
from consentry.store import database

from .store_dump import dump_items
from .synthetic import write_jpeg

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
pytestmark = pytest.mark.skipif(
    not LFW.is_dir(), reason="../shared/data/faces/lfw (harmless labelled faces) is absent"
)
ARNOLD, COLIN, TONY = "Arnold_Schwarzenegger", "Colin_Powell", "Tony_Blair"


def lfw(person: str, number: int) -> Path:
    return LFW / person / f"{person}_{number:04d}.jpg"


class AlwaysExplicit:
    """Stand-in Open-NSFW scorer: every image scores 0.97 (no explicit image is ever used)."""

    model_sha256 = "0" * 64

    def score(self, rgb: np.ndarray) -> float:
        return 0.97


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(*args: str | Path) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def scan(case: Path, *sources: Path, explicit: bool = False) -> None:
    skip = [] if explicit else ["--skip", "explicit"]
    ok("scan", *sources, "--case", case, "--workers", "1", "-q", *skip)


def persons_json(case: Path) -> dict:
    return json.loads(ok("persons", "--case", case, "--json").output)


def rows(case: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql, params).fetchall()


def write_consent(folder: Path, name: str = "Colin Powell", **change: object) -> Path:
    record = {
        "consented_by": name,
        "consented_at": "2026-01-02",
        "scope": "search this case for images of me",
        "recorded_by": "A. Examiner",
        **change,
    }
    path = folder / f"consent-{len(list(folder.glob('consent-*')))}.json"
    path.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))
    return path


def enroll_colin(case: Path, tmp: Path, *extra: str) -> Result:
    return ok(
        "person", "add", "--case", case, "--name", "Colin Powell", "--consent",
        write_consent(tmp), lfw(COLIN, 1), lfw(COLIN, 2), *extra,
    )  # fmt: skip


def case_bytes(case: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(case.rglob("*")) if p.is_file())


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three people in folders named after them, one of Tony's photos misfiled with Colin's, a
    picture without people; scanned once (faces real, explicit stand-in)."""
    root = tmp_path_factory.mktemp("persons")
    evidence = root / "evidence"
    for person in (ARNOLD, COLIN, TONY):
        for n in (3, 4, 5, 6):
            target = evidence / person / f"{n}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lfw(person, n), target)
    shutil.copyfile(lfw(TONY, 7), evidence / COLIN / "7.jpg")
    write_jpeg(evidence / "DCIM" / "landscape.jpg", seed=3, width=400, height=300)
    image_analysis.reset_process()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(AlwaysExplicit())
        )
        scan(root / "case", evidence, explicit=True)
    image_analysis.reset_process()
    yield root


@pytest.fixture()
def case(scanned: Path, tmp_path: Path) -> Path:
    shutil.copytree(scanned / "case", tmp_path / "case")
    return tmp_path / "case"


# -- consent -----------------------------------------------------------------------------------
def test_no_enrollment_without_a_complete_consent_record(case: Path, tmp_path: Path) -> None:
    missing = cli("person", "add", "--case", case, "--name", "Colin Powell", lfw(COLIN, 1))
    assert missing.exit_code == 2 and "--consent" in missing.output
    bad = write_consent(tmp_path, scope=None, consented_at="soon")
    result = cli(
        "person", "add", "--case", case, "--name", "Colin Powell", "--consent", bad, lfw(COLIN, 1)
    )
    assert result.exit_code == 2
    assert "missing scope" in result.output and "consented_at 'soon'" in result.output
    assert result.output.count("\n") == 1  # one line for scripts
    assert rows(case, "SELECT count(*) FROM persons WHERE kind = 'enrolled'") == [(0,)]
    assert not key_file_path(case).exists()


def test_consent_naming_someone_else_enrolls_nobody(case: Path, tmp_path: Path) -> None:
    before = case_bytes(case)
    tony = write_consent(tmp_path, "Tony Blair")
    result = cli("person", "add", "--case", case, "--name", "Colin Powell", "--consent", tony,
                 lfw(COLIN, 1))  # fmt: skip
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "for 'Tony Blair' (consented_by), not for 'Colin Powell'" in result.output
    assert case_bytes(case) == before and not key_file_path(case).exists()  # nothing written
    # a guardian consenting on behalf of the person is their consent
    guardian = write_consent(tmp_path, "Alma Powell", on_behalf_of="colin POWELL")
    ok("person", "add", "--case", case, "--name", "Colin Powell", "--consent", guardian,
       lfw(COLIN, 1))  # fmt: skip


def test_a_yaml_record_with_an_impossible_date_or_broken_yaml_is_one_line(
    case: Path, tmp_path: Path
) -> None:
    bad_date = tmp_path / "colin.yaml"
    bad_date.write_text(
        "consented_by: Colin Powell\nconsented_at: 2026-13-45\nscope: search\nrecorded_by: A\n"
    )
    broken = tmp_path / "broken.yml"
    broken.write_text("consented_by: [Colin Powell\nscope: search\n")
    for consent, says in ((bad_date, "'2026-13-45' is not an ISO 8601 date"), (broken, "YAML")):
        result = cli("person", "add", "--case", case, "--name", "Colin Powell", "--consent",
                     consent, lfw(COLIN, 1))  # fmt: skip
        assert result.exit_code == 2 and says in result.output, result.output
        assert result.output.count("\n") == 1  # one line, no traceback


def test_a_reference_photo_that_is_evidence_is_recorded(case: Path, tmp_path: Path) -> None:
    import hashlib

    result = ok("person", "add", "--case", case, "--name", "Colin Powell", "--consent",
                write_consent(tmp_path), lfw(COLIN, 1), lfw(COLIN, 3))  # fmt: skip
    assert "1 reference photo(s) are also evidence files" in result.output
    events = json.loads(ok("audit", "show", "--case", case, "--json").output)["events"]
    (enrolled,) = [e["payload"] for e in events if e["action"] == "person_enrolled"]
    assert enrolled["reference_photos_in_evidence_sha256"] == [
        hashlib.sha256(lfw(COLIN, 3).read_bytes()).hexdigest()
    ]


def test_a_deleted_key_file_is_not_replaced_by_a_new_key(case: Path, tmp_path: Path) -> None:
    enroll_colin(case, tmp_path)
    key_file_path(case).unlink()
    result = cli("person", "add", "--case", case, "--name", "Tony Blair", "--consent",
                 write_consent(tmp_path, "Tony Blair"), lfw(TONY, 2))  # fmt: skip
    assert result.exit_code == 2 and "no template key" in result.output
    assert not key_file_path(case).exists()
    assert rows(case, "SELECT count(*) FROM persons WHERE kind = 'enrolled'") == [(1,)]


# -- reference photos --------------------------------------------------------------------------
def test_photo_without_a_face_or_with_several_is_refused(case: Path, tmp_path: Path) -> None:
    landscape = write_jpeg(tmp_path / "landscape.jpg", seed=5, width=400, height=300)
    pair = tmp_path / "pair.jpg"
    left, right = (np.asarray(Image.open(lfw(p, 2)).convert("RGB")) for p in (COLIN, TONY))
    Image.fromarray(np.hstack([left, right])).save(pair, quality=95)
    consent = write_consent(tmp_path)
    base = ["person", "add", "--case", case, "--name", "Colin Powell", "--consent", consent]
    result = cli(*base, landscape)
    assert result.exit_code == 2 and "no face found" in result.output
    result = cli(*base, pair)
    assert result.exit_code == 2 and "2 faces found" in result.output
    assert "--face N" in result.output and "nothing was stored" in result.output
    assert rows(case, "SELECT count(*) FROM person_templates") == [(0,)]
    ok(*base, pair, "--face", "1")
    assert rows(case, "SELECT face_index FROM person_templates") == [(0,)]
    quality = json.loads(rows(case, "SELECT quality FROM person_templates")[0][0])
    assert quality["faces_in_photo"] == 2 and quality["size_px"] > 48


def test_only_templates_hashes_and_consent_are_stored(case: Path, tmp_path: Path) -> None:
    before = {p.relative_to(case) for p in case.rglob("*") if p.is_file()}
    result = enroll_colin(case, tmp_path)
    assert "E1 Colin Powell: 2 template(s)" in result.output  # quality is reported
    after = {p.relative_to(case) for p in case.rglob("*") if p.is_file()}
    assert after - before <= {Path("keys/templates.key"), Path("case.sqlite-wal")}
    stored = case_bytes(case)
    from consentry.analyzers.faces import FaceAnalyzer

    analyzer = FaceAnalyzer()
    for ref in (lfw(COLIN, 1), lfw(COLIN, 2)):
        data = ref.read_bytes()
        for offset in range(0, len(data) - 64, len(data) // 8):
            assert data[offset : offset + 64] not in stored  # no piece of the photo
        face = analyzer.analyze(decode_image(data).rgb).faces[0]
        assert face.embedding is not None
        assert np.asarray(face.embedding, "<f4").tobytes()[:64] not in stored  # nor its template
    import hashlib

    refs = rows(
        case, "SELECT ref_sha256, ref_md5, ref_pdq FROM person_templates ORDER BY ref_index"
    )
    assert [r[0] for r in refs] == [
        hashlib.sha256(lfw(COLIN, n).read_bytes()).hexdigest() for n in (1, 2)
    ]
    assert all(r[1] and len(r[2]) == 64 for r in refs)
    shown = json.loads(ok("person", "show", "E1", "--case", case, "--json").output)
    assert shown["consent"]["consented_by"] == "Colin Powell"
    assert [t["reference_sha256"] for t in shown["templates"]] == [r[0] for r in refs]
    assert "template" not in json.dumps(shown["templates"]).replace("templates", "")


# -- encryption at rest -------------------------------------------------------------------------
def test_templates_are_encrypted_at_rest_and_a_wrong_key_is_refused(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enroll_colin(case, tmp_path)
    key_file = key_file_path(case)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = rows(case, "SELECT template FROM person_templates ORDER BY ref_index")[0][0]
    vector = np.frombuffer(Fernet(key_file.read_bytes().strip()).decrypt(token), "<f4")
    assert vector.shape == (128,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3
    assert vector.tobytes()[:64] not in case_bytes(case)

    monkeypatch.setenv(ENV_VAR, Fernet.generate_key().decode())
    result = cli("person", "refresh", "--case", case)
    assert result.exit_code == 2 and "not this case's key" in result.output
    result = cli(
        "person", "add", "--case", case, "--name", "Tony Blair",
        "--consent", write_consent(tmp_path, "Tony Blair"), lfw(TONY, 2),
    )  # fmt: skip
    assert result.exit_code == 2 and "not this case's key" in result.output
    assert rows(case, "SELECT count(*) FROM persons WHERE kind = 'enrolled'") == [(1,)]


def test_a_key_from_the_environment_leaves_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, Fernet.generate_key().decode())
    case = tmp_path / "new-case"  # enrolling before any scan creates the case
    enroll_colin(case, tmp_path)
    assert not key_file_path(case).exists()
    monkeypatch.delenv(ENV_VAR)
    result = cli("person", "refresh", "--case", case)
    assert result.exit_code == 2 and "no template key" in result.output


# -- matching and consent gating ------------------------------------------------------------------
def test_faces_match_only_persons_with_valid_consent(case: Path, tmp_path: Path) -> None:
    enroll_colin(case, tmp_path)
    colin = next(p for p in persons_json(case)["persons"] if p["id"] == "E1")
    assert colin["images"] == 4 and all(f"/{COLIN}/" in p for p in colin["items"])
    assert colin["similarity"]["min"] >= 0.46

    (consent,) = rows(case, "SELECT consent_json FROM persons WHERE code = 'E1'")[0]
    expired = json.dumps({**json.loads(consent), "expires_at": "2026-01-03"})
    with sqlite3.connect(case / "case.sqlite") as db:
        db.execute("UPDATE persons SET consent_json = ? WHERE code = 'E1'", (expired,))
    ok("person", "refresh", "--case", case)
    assert rows(case, "SELECT count(*) FROM face_matches") == [(0,)]
    report = persons_json(case)
    colin = next(p for p in report["persons"] if p["id"] == "E1")
    assert colin["images"] == 0 and colin["consent"] == "expired"
    # Colin's faces are back with an unidentified person
    assert any(
        p["kind"] == "unidentified" and sum(f"/{COLIN}/" in i for i in p["items"]) == 4
        for p in report["persons"]
    )
    with sqlite3.connect(case / "case.sqlite") as db:
        db.execute("UPDATE persons SET consent_json = NULL WHERE code = 'E1'")
    ok("person", "refresh", "--case", case)
    assert rows(case, "SELECT count(*) FROM face_matches") == [(0,)]


# -- erasure -----------------------------------------------------------------------------------
def test_erasure_leaves_no_trace_of_the_templates(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some SQLite builds zero deleted data by default (SQLITE_SECURE_DELETE); turn that off so
    # that only what the erasure itself does is tested
    plain = database._sqlite_pragmas

    def insecure(dbapi_conn: sqlite3.Connection, record: object) -> None:
        plain(dbapi_conn, record)
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

    monkeypatch.setattr(database, "_sqlite_pragmas", insecure)
    # another connection keeps the write-ahead log (with the enrollment's pages) from being
    # folded into the database and removed when each command closes
    reader = sqlite3.connect(case / "case.sqlite")
    reader.execute("SELECT count(*) FROM persons").fetchall()
    enroll_colin(case, tmp_path)
    tokens = [bytes(r[0]) for r in rows(case, "SELECT template FROM person_templates")]
    assert len(tokens) == 2 and all(t in case_bytes(case) for t in tokens)  # the check can fail
    matched = rows(case, "SELECT count(*) FROM face_matches")[0][0]
    assert matched >= 4

    assert all(t in (case / "case.sqlite-wal").read_bytes() for t in tokens)
    result = ok("person", "remove", "E1", "--case", case, "--yes", "--reason", "withdrawn")
    assert "2 template(s)" in result.output and "warning" not in result.output
    for table in ("person_templates", "face_matches"):
        assert rows(case, f"SELECT count(*) FROM {table}") == [(0,)]
    assert rows(case, "SELECT count(*) FROM persons WHERE kind = 'enrolled'") == [(0,)]
    stored = case_bytes(case)  # database, write-ahead log and every other file
    for token in tokens:
        for offset in range(0, len(token) - 24, 24):
            assert token[offset : offset + 24] not in stored
    reader.close()
    events = json.loads(ok("audit", "show", "--case", case, "--json").output)["events"]
    removed = [e for e in events if e["action"] == "person_removed"]
    assert len(removed) == 1
    assert removed[0]["payload"] == {
        "person": "E1",
        "templates_deleted": 2,
        "matches_deleted": matched,
        "face_embeddings_deleted": matched,
        "face_crops_deleted": matched,
        "face_crops_not_deleted": 0,
        "group_assignments_deleted": removed[0]["payload"]["group_assignments_deleted"],
        "reason": "withdrawn",
    }
    ok("audit", "verify", "--case", case)
    gone = cli("person", "show", "E1", "--case", case)
    assert gone.exit_code == 2 and "no person E1" in gone.output
    assert cli("person", "remove", "U1", "--case", case, "--yes").exit_code == 2


def _matched_faces(case: Path) -> list[tuple[str, int, bytes, str]]:
    return rows(
        case,
        "SELECT f.sha256, f.face_index, f.embedding, f.crop_path FROM face_matches m "
        "JOIN faces f ON f.sha256 = m.sha256 AND f.face_index = m.face_index",
    )


def test_erasure_removes_the_face_data_that_identifies_the_person(
    scanned: Path, case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = database._sqlite_pragmas

    def insecure(dbapi_conn: sqlite3.Connection, record: object) -> None:
        plain(dbapi_conn, record)
        dbapi_conn.execute("PRAGMA secure_delete=OFF")

    monkeypatch.setattr(database, "_sqlite_pragmas", insecure)
    enroll_colin(case, tmp_path)
    matched = _matched_faces(case)
    assert len(matched) >= 4 and all(emb and crop for _, _, emb, crop in matched)
    assert all((case / crop).is_file() for *_, crop in matched)
    embeddings = [bytes(emb) for _, _, emb, _ in matched]
    assert all(e in case_bytes(case) for e in embeddings)  # the check can fail

    result = ok("person", "remove", "E1", "--case", case, "--yes")
    assert f"{len(matched)} face embedding(s) and {len(matched)} face crop(s)" in result.output
    keys = [(sha, index) for sha, index, _, _ in matched]
    for sha, index in keys:
        ((emb, crop, usable, flags),) = rows(
            case,
            "SELECT embedding, crop_path, usable, flags FROM faces "
            "WHERE sha256 = ? AND face_index = ?",
            sha,
            index,
        )
        assert emb is None and crop is None and not usable and "erased" in flags.split(",")
        assert not rows(
            case, "SELECT 1 FROM face_clusters WHERE sha256 = ? AND face_index = ?", sha, index
        )
    assert not any((case / crop).exists() for *_, crop in matched)
    stored = case_bytes(case)
    assert not any(e[:64] in stored for e in embeddings)
    # the erased person does not come back as an unidentified person
    report = persons_json(case)
    erased_images = {sha for sha, _ in keys}
    paths = {
        p for sha, p in rows(case, "SELECT sha256, path FROM locations") if sha in erased_images
    }
    assert not any(set(p["items"]) & paths for p in report["persons"])
    ok("audit", "verify", "--case", case)

    # a scan of another copy of the same images analyses them again: nothing comes back
    copies = tmp_path / "copies"
    shutil.copytree(scanned / "evidence" / COLIN, copies)
    scan(case, copies)
    assert not any((case / crop).exists() for *_, crop in matched)
    for sha, index in keys:
        assert rows(
            case,
            "SELECT embedding, crop_path FROM faces WHERE sha256 = ? AND face_index = ?",
            sha,
            index,
        ) == [(None, None)]
    events = json.loads(ok("audit", "show", "--case", case, "--json").output)["events"]
    kept = [e["payload"] for e in events if e["action"] == "erasure_kept"]
    assert kept and kept[-1]["face_crops_deleted"] >= 1
    report = persons_json(case)
    assert not any(set(p["items"]) & paths for p in report["persons"])


# -- clusters ----------------------------------------------------------------------------------
def _codes_by_face(case: Path) -> dict[tuple[str, int], str]:
    return {
        (sha, index): code
        for sha, index, code in rows(
            case,
            "SELECT c.sha256, c.face_index, p.code FROM face_clusters c "
            "JOIN persons p ON p.id = c.person_id",
        )
    }


def _code_of_folder(case: Path, folder: str) -> set[str]:
    """Groups of the main (largest) face of each image in ``folder``: LFW photos also show
    people in the background, who are other persons."""
    largest: dict[str, tuple[float, str | None]] = {}
    for sha, size, code in rows(
        case,
        "SELECT f.sha256, f.size_px, p.code FROM faces f JOIN locations l ON l.sha256 = f.sha256 "
        "LEFT JOIN face_clusters c ON c.sha256 = f.sha256 AND c.face_index = f.face_index "
        "LEFT JOIN persons p ON p.id = c.person_id WHERE l.path LIKE ?",
        f"%/{folder}/%",
    ):
        if sha not in largest or size > largest[sha][0]:
            largest[sha] = (size, code)
    return {code for _, code in largest.values() if code}


def test_unidentified_numbers_are_stable_across_scans_and_enrollments(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for person in (ARNOLD, TONY):
        for n in (3, 4, 5):
            (first / person).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lfw(person, n), first / person / f"{n}.jpg")
    case = tmp_path / "case"
    scan(case, first)
    before = _codes_by_face(case)
    assert before and all(code.startswith("U") for code in before.values())
    arnold = _code_of_folder(case, ARNOLD)
    assert len(arnold) == 1
    refreshes = len(rows(case, "SELECT seq FROM audit_events WHERE action='identities_refreshed'"))

    scan(case, first)  # nothing new: no refresh, nothing changes
    assert _codes_by_face(case) == before
    assert (
        len(rows(case, "SELECT seq FROM audit_events WHERE action='identities_refreshed'"))
        == refreshes
    )

    for n in (6, 7):
        (second / "new" / ARNOLD).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw(ARNOLD, n), second / "new" / ARNOLD / f"{n}.jpg")
    for n in (3, 4, 5):
        (second / COLIN).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lfw(COLIN, n), second / COLIN / f"{n}.jpg")
    scan(case, first, second)
    after = _codes_by_face(case)
    assert {k: after[k] for k in before} == before  # no face renumbered or moved
    assert _code_of_folder(case, ARNOLD) == arnold  # new photos of Arnold joined his group
    colin = _code_of_folder(case, COLIN)
    old_max = max(int(c[1:]) for c in before.values())
    assert len(colin) == 1 and int(next(iter(colin))[1:]) > old_max  # a new, higher number

    enroll_colin(case, tmp_path)
    matched = set(rows(case, "SELECT sha256, face_index FROM face_matches"))
    assert matched and {after[k] for k in matched} == colin
    ok("person", "remove", "E1", "--case", case, "--yes")
    # erasing takes the erased person's matched faces out of their group, and only those
    assert _codes_by_face(case) == {k: v for k, v in after.items() if k not in matched}


def test_merge_and_split_are_audited_and_survive_a_refresh(case: Path) -> None:
    arnold = _code_of_folder(case, ARNOLD)
    tony = _code_of_folder(case, TONY)
    assert len(arnold) == 1 and len(tony) == 1 and arnold != tony
    (a,), (t,) = arnold, tony
    image = rows(case, "SELECT path FROM locations WHERE path LIKE ?", f"%/{ARNOLD}/3.jpg")[0][0]
    result = ok("person", "split", a, "--case", case, "--image", image, "--examiner", "Ex")
    new = result.output.split()[-1]
    assert new.startswith("U") and new != a
    report = {p["id"]: p for p in persons_json(case)["persons"]}
    assert report[new]["items"] == [image] and image not in report[a]["items"]

    ok("person", "merge", new, t, "--case", case, "--examiner", "Ex")
    ok("person", "refresh", "--case", case)
    report = {p["id"]: p for p in persons_json(case)["persons"]}
    assert new not in report and image in report[t]["items"] and report[t]["merged_from"] == [new]
    events = json.loads(ok("audit", "show", "--case", case, "--json").output)["events"]
    split = next(e for e in events if e["action"] == "person_split")
    assert split["actor"] == "Ex" and split["payload"]["source"] == a
    assert split["payload"]["new"] == new and len(split["payload"]["faces"]) >= 1
    merged = next(e for e in events if e["action"] == "persons_merged")
    assert merged["payload"]["source"] == new and merged["payload"]["target"] == t
    assert cli("person", "merge", t, new, "--case", case).exit_code == 2  # already merged


def test_merging_into_an_enrolled_person_is_refused(case: Path, tmp_path: Path) -> None:
    enroll_colin(case, tmp_path)
    (tony,) = _code_of_folder(case, TONY)
    result = cli("person", "merge", tony, "E1", "--case", case)
    assert result.exit_code == 2 and "only unidentified persons" in result.output


def test_only_usable_faces_are_grouped(case: Path) -> None:
    grouped = rows(
        case,
        "SELECT count(*) FROM face_clusters c JOIN faces f "
        "ON f.sha256 = c.sha256 AND f.face_index = c.face_index WHERE f.usable = 0",
    )
    assert grouped == [(0,)]
    assert rows(case, "SELECT count(*) FROM faces WHERE usable = 0")[0][0] >= 1  # LFW backgrounds


# -- the report ----------------------------------------------------------------------------------
def test_persons_json_says_who_where_and_how_many(case: Path, tmp_path: Path) -> None:
    enroll_colin(case, tmp_path)
    report = persons_json(case)
    paths = {p for (p,) in rows(case, "SELECT path FROM locations")}
    for person in report["persons"]:
        assert {"id", "kind", "name", "images", "explicit_images", "folders", "items"} <= set(
            person
        )
        assert person["kind"] in ("enrolled", "unidentified")
        assert person["images"] == len(person["items"]) and set(person["items"]) <= paths
        assert person["explicit_images"] == person["images"]  # the stand-in labels all explicit
        assert sum(f["images"] for f in person["folders"]) == person["images"]
        if person["kind"] == "unidentified":
            assert person["name"] is None and person["id"].startswith("U")
    by_id = {p["id"]: p for p in report["persons"]}
    assert by_id["E1"]["name"] == "Colin Powell" and by_id["E1"]["images"] == 4
    count = report["count"]
    assert count["lower_bound"] <= count["estimate"] <= count["upper_bound"]
    assert count["estimate"] == (
        count["enrolled_matched"] + count["unidentified_strong"] + count["unidentified_weak"]
    )
    assert count["enrolled_matched"] == 1 and count["unidentified_strong"] >= 2
    assert set(count["definitions"]) >= {"estimate", "lower_bound", "upper_bound", "images"}
    folders = {f["folder"].rsplit("/", 1)[-1]: f for f in report["folders"]}
    assert folders[COLIN]["named_after"] == ["E1"] and folders[COLIN]["images"] == 5
    assert folders["DCIM"]["images"] == 1 and folders["DCIM"]["persons"] == {}
    kinds = {(i["kind"], i["folders"][0].rsplit("/", 1)[-1]) for i in report["inconsistencies"]}
    assert ("folder_mixes_persons", COLIN) in kinds  # Tony's misfiled photo
    assert ("folder_named_like_a_person", ARNOLD) in kinds
    (tony,) = _code_of_folder(case, TONY)
    spread = [i for i in report["inconsistencies"] if i["kind"] == "person_in_several_folders"]
    assert any(i["persons"] == [tony] for i in spread)
    text = ok("persons", "--case", case).output
    assert "Colin" in text and "persons depicted" in text


@pytest.mark.parametrize(
    "command",
    [
        ["person", "add"],
        ["person", "list"],
        ["person", "show"],
        ["person", "remove"],
        ["person", "merge"],
        ["person", "split"],
        ["person", "refresh"],
        ["person", "keygen"],
        ["persons"],
    ],
)
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    result = ok(*command, "--help")
    assert "Examples:" in result.output and "consentry " in result.output


def test_person_list_shows_consent_and_templates(case: Path, tmp_path: Path) -> None:
    enroll_colin(case, tmp_path)
    listed = json.loads(ok("person", "list", "--case", case, "--json").output)
    assert listed["enrolled"][0]["templates"] == 2
    assert listed["enrolled"][0]["consent"] == "valid" and listed["enrolled"][0]["images"] == 4
    assert len(listed["unidentified"]) >= 2


# -- interrupted scans --------------------------------------------------------------------------
def test_a_scan_killed_before_identities_are_derived_ends_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = tmp_path / "evidence"
    for person in (ARNOLD, TONY):
        for n in (3, 4, 5):
            (evidence / person).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lfw(person, n), evidence / person / f"{n}.jpg")
    reference = tmp_path / "reference"
    scan(reference, evidence)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies after analysis, before identities

    interrupted = tmp_path / "interrupted"
    monkeypatch.setattr(pipeline, "refresh_identities", killed)
    assert cli("scan", evidence, "--case", interrupted, "--workers", "1", "-q").exit_code != 0
    assert rows(interrupted, "SELECT count(*) FROM face_clusters") == [(0,)]
    monkeypatch.undo()
    monkeypatch.delenv(ENV_VAR, raising=False)
    scan(interrupted, evidence)
    got, want = dump_items(interrupted), dump_items(reference)
    for table in ("persons", "face_clusters", "face_matches", "faces"):
        assert got[table] == want[table], table
    assert want["face_clusters"]
