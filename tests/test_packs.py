"""Victims' packs: made on the device from harmless photos (LFW news photos, a synthetic texture),
holding hashes and face templates but no image, opened only by the service's secret key, and
imported whole or not at all."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from PIL import Image, ImageOps

from consentry.analyzers import explicit as explicit_mod
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main
from consentry.services.matching.hashing import hash_image
from consentry.services.matching.packs import (
    PACK_BANK,
    PackError,
    build_pack,
    import_pack,
    make_pack,
    parse_pack,
)
from consentry.services.matching.screening import screen
from consentry.services.matching.types import (
    Bank,
    BankContent,
    Caller,
    Decision,
    LookupResult,
    Match,
    MatchErrorCode,
    MatchServiceError,
    Person,
    ServiceRole,
    Signal,
    SignalType,
    WithdrawalResult,
)

from .stand_ins import FixedScorer
from .synthetic import write_jpeg

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
pytestmark = pytest.mark.skipif(not LFW.is_dir(), reason="../shared/data/faces/lfw is absent")
ADVOCATE = Caller(4, "helpline", ServiceRole.ADVOCATE)
MATCHER = Caller(5, "platform", ServiceRole.MATCHER)


def lfw(person: str, number: int) -> Path:
    return LFW / person / f"{person}_{number:04d}.jpg"


def consent_file(folder: Path, **changes: object) -> Path:
    record: dict[str, object] = {
        "consented_by": "Colin Powell",
        "consented_at": "2026-11-30",
        "scope": "block intimate images of me on platforms using this service",
        "recorded_by": "Colin Powell",
    }
    record.update(changes)
    path = folder / "consent.json"
    path.write_text(json.dumps({k: v for k, v in record.items() if v is not None}))
    return path


@dataclass
class FakeService:
    """The methods packs and screening call, in memory; the sealed box is real."""

    secret: PrivateKey = field(default_factory=PrivateKey.generate)
    banks: dict[str, str] = field(default_factory=dict)  # name -> kind
    persons: dict[int, tuple[str, str, int | None]] = field(default_factory=dict)
    contents: list[tuple[str, tuple[Signal, ...], str, int | None, dict[str, str]]] = field(
        default_factory=list
    )
    templates: list[tuple[int, np.ndarray, str]] = field(default_factory=list)
    records: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    fail_on_content: int | None = None

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self.secret.public_key)).decode()

    def open_sealed(self, blob: bytes) -> bytes:
        try:
            return bytes(SealedBox(self.secret).decrypt(blob))
        except CryptoError:
            raise MatchServiceError(MatchErrorCode.BAD_PACK, "pack does not open") from None

    def _bank(self, name: str) -> Bank:
        n = sum(1 for c in self.contents if c[0] == name)
        return Bank(name, True, 1.0, self.banks[name], "now", n)

    def get_bank(self, caller: Caller, name: str) -> Bank:
        if name not in self.banks:
            raise MatchServiceError(MatchErrorCode.UNKNOWN_BANK, f"no bank named {name!r}")
        return self._bank(name)

    def create_bank(self, caller: Caller, name: str, *, kind: str = "hash", **_: Any) -> Bank:
        assert caller.role in (ServiceRole.CURATOR, ServiceRole.ADMIN)
        self.banks[name] = kind
        return self._bank(name)

    def add_person(self, caller: Caller, label: str, consent_json: str) -> Person:
        pid = len(self.persons) + 1
        self.persons[pid] = (label, consent_json, caller.key_id)
        return Person(pid, label, caller.key_id, "now", 0, 0)

    def add_content(
        self,
        caller: Caller,
        bank: str,
        signals: Sequence[Signal],
        *,
        note: str | None = None,
        metadata: Mapping[str, str] | None = None,
        origin: str = "api",
        person_id: int | None = None,
    ) -> BankContent:
        if self.fail_on_content is not None and len(self.contents) == self.fail_on_content:
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "database said no")
        self.contents.append((bank, tuple(signals), origin, person_id, dict(metadata or {})))
        cid = len(self.contents)
        return BankContent(cid, bank, True, tuple(signals), note, (), origin, person_id, "", "")

    def add_face_template(
        self, caller: Caller, person_id: int, embedding: np.ndarray, model: str
    ) -> None:
        self.templates.append((person_id, np.asarray(embedding, np.float32), model))

    def withdraw_person(self, caller: Caller, person_id: int) -> WithdrawalResult:
        self.withdrawn.append(person_id)
        self.contents = [c for c in self.contents if c[3] != person_id]
        self.templates = [t for t in self.templates if t[0] != person_id]
        return WithdrawalResult(person_id, 0, 0, 0)

    def record(self, caller: Caller, action: str, payload: Mapping[str, object]) -> None:
        self.records.append((caller.actor, action, dict(payload)))

    def withdrawn_at(self, label: str) -> str | None:
        return None

    def list_persons(self, caller: Caller) -> list[Person]:
        return [Person(pid, lab, own, "now", 0, 0) for pid, (lab, _c, own) in self.persons.items()]

    # screening's two methods, over what was imported
    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: object = None,
        threshold: int = 31,
    ) -> list[LookupResult]:
        out = []
        for s in signals:
            found = []
            for cid, (bank, stored, _o, _p, _m) in enumerate(self.contents, start=1):
                for t in stored:
                    if t.signal_type is not s.signal_type:
                        continue
                    if s.signal_type is SignalType.PDQ:
                        d = (int(s.value, 16) ^ int(t.value, 16)).bit_count()
                    else:
                        d = 0 if s.value == t.value else 256
                    if d <= (threshold if s.signal_type is SignalType.PDQ else 0):
                        found.append(Match(s.signal_type, bank, cid, d, t.value))
            out.append(LookupResult(s.signal_type, s.value, tuple(found)))
        return out

    def face_templates(self) -> list[tuple[int, str, np.ndarray]]:
        return [(pid, self.persons[pid][0], emb) for pid, emb, _ in self.templates]


def _photos(tmp_path: Path) -> list[Path]:
    texture = write_jpeg(tmp_path / "device" / "texture.jpg", 7, width=320, height=240)
    return [lfw("Colin_Powell", 1), lfw("Colin_Powell", 2), texture]


def _open(svc: FakeService, blob: bytes) -> dict[str, Any]:
    return json.loads(svc.open_sealed(blob))


def test_a_pack_holds_hashes_and_templates_and_no_image(tmp_path: Path) -> None:
    svc = FakeService()
    photos = _photos(tmp_path)
    seen: list[str] = []
    built = make_pack(
        photos,
        svc.public_key,
        consent_file(tmp_path),
        progress=lambda p: seen.append(f"{p.number}:{p.face}"),
    )
    assert seen == ["1:True", "2:True", "3:False"]
    assert (built.templates, built.pdq_hashes, len(built.photos)) == (2, 3, 3)
    blob = built.blob
    sizes = [p.stat().st_size for p in photos]
    assert len(blob) < min(sizes) / 2  # a few kB for three photos
    doc = _open(svc, blob)
    plain = json.dumps(doc).encode()
    # image signatures: none in the opened document (its embeddings, 512 bytes each, set
    # aside: random base64 may spell anything); in the ciphertext, only the longer ones (a
    # random 3-byte match in a few kB of ciphertext has a chance of about 1 in 3,000)
    text = re.sub(r'"embedding": "[A-Za-z0-9+/=]{684}"', '"embedding": ""', plain.decode())
    assert text.count('"embedding": ""') == 2
    for word in ("\xff\xd8\xff", "PNG", "JFIF", "Exif", "GIF8", "RIFF", "base64"):
        assert word not in text
    for magic in (b"\xff\xd8\xff\xe0\x00\x10JFIF", b"\x89PNG\r\n\x1a\n", b"Exif\x00\x00"):
        assert magic not in blob
    for path in photos:
        raw = path.read_bytes()
        chunk = raw[len(raw) // 2 : len(raw) // 2 + 24]
        assert chunk not in plain and base64.b64encode(chunk)[:24] not in plain
        assert str(path.name).encode() not in plain and str(path.parent).encode() not in plain
    assert doc["format"] == "consentry-pack" and doc["version"] == 1
    assert doc["consent"]["consented_by"] == "Colin Powell"
    assert set(doc) == {
        "format",
        "version",
        "created_at",
        "consent",
        "consent_sha256",
        "face_model",
        "photos",
    }
    for path, entry in zip(photos, doc["photos"], strict=True):
        expected = hash_image(path.read_bytes())
        assert entry["sha256"] == expected.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["md5"] == expected.md5
        assert entry["pdq"] == expected.pdq and entry["pdq_dihedral"] == list(expected.pdq_dihedral)
        assert set(entry) == {"sha256", "md5", "pdq", "pdq_quality", "pdq_dihedral", "face"}
    assert doc["photos"][2]["face"] is None  # the texture has no face: hashes only
    vector = np.frombuffer(base64.b64decode(doc["photos"][0]["face"]["embedding"]), "<f4")
    assert vector.shape == (128,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3


def test_only_the_secret_key_opens_a_pack(tmp_path: Path) -> None:
    svc = FakeService()
    blob = build_pack([lfw("Colin_Powell", 1)], svc.public_key, consent_file(tmp_path))
    with pytest.raises(CryptoError):
        SealedBox(PrivateKey.generate()).decrypt(blob)
    other = FakeService()
    with pytest.raises(MatchServiceError) as caught:
        import_pack(other, ADVOCATE, blob)
    assert caught.value.code is MatchErrorCode.BAD_PACK and other.persons == {}
    assert json.loads(svc.open_sealed(blob))["photos"]  # the right key opens it


def test_import_stores_a_person_their_hashes_and_templates(tmp_path: Path) -> None:
    svc = FakeService()
    blob = build_pack(_photos(tmp_path), svc.public_key, consent_file(tmp_path))
    result = import_pack(svc, ADVOCATE, blob)
    assert (result.bank, result.added, result.person_id) == (PACK_BANK, 3, 1)
    assert svc.banks == {PACK_BANK: "pack"}  # created, as a pack bank
    label, consent_json, owner = svc.persons[1]
    assert owner == ADVOCATE.key_id  # the advocate owns the person
    assert json.loads(consent_json)["consented_by"] == "Colin Powell"
    assert re.fullmatch(r"pack [0-9a-f]{16}", label)  # no name in what platforms see
    assert len(svc.contents) == 3 and all(c[2] == "pack" and c[3] == 1 for c in svc.contents)
    for bank, signals, _origin, _pid, meta in svc.contents:
        kinds = [s.signal_type for s in signals]
        assert (
            bank == PACK_BANK and kinds.count(SignalType.MD5) == kinds.count(SignalType.SHA256) == 1
        )
        assert kinds.count(SignalType.PDQ) == 8 and meta == {"pack": label.split()[1]}
    assert result.signals == 30 and len(svc.templates) == 2
    assert all(model.startswith("sface:") for _, _, model in svc.templates)
    ((actor, action, payload),) = svc.records
    assert (actor, action) == (ADVOCATE.actor, "pack.import")
    assert payload["templates"] == 2 and payload["contents"] == 3
    assert not any(
        isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32,}", v) and k != "consent_sha256"
        for k, v in payload.items()
    )


def test_an_imported_pack_stops_a_mirrored_copy_and_a_deepfake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = FakeService()
    import_pack(
        svc, ADVOCATE, build_pack(_photos(tmp_path), svc.public_key, consent_file(tmp_path))
    )
    monkeypatch.setattr(explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(FixedScorer(0.01)))
    buf = io.BytesIO()
    ImageOps.mirror(Image.open(lfw("Colin_Powell", 2))).save(buf, "JPEG", quality=80)
    copy = screen(svc, MATCHER, buf.getvalue())
    assert copy.decision is Decision.BLOCK and copy.reasons[0].startswith("block: PDQ")
    # another photo of the same person, scored explicit by the stand-in: the face decides
    monkeypatch.setattr(explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(FixedScorer(0.97)))
    fake = screen(svc, MATCHER, lfw("Colin_Powell", 5).read_bytes())
    assert fake.decision is Decision.BLOCK, fake.reasons
    assert fake.reasons[0].startswith("block: explicit and face 1 ~ consented person 1:")


def _sealed(svc: FakeService, doc: dict[str, Any]) -> bytes:
    return bytes(SealedBox(svc.secret.public_key).encrypt(json.dumps(doc).encode()))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d.update(extra=1), "unknown field(s) extra"),
        (lambda d: d.update(photos=[]), "photos must be a non-empty list"),
        (lambda d: d.update(created_at="yesterday"), "created_at"),
        (lambda d: d["photos"][0].update(md5="abc"), "photo 1 md5 is not 32 hex"),
        (lambda d: d["photos"][1].update(sha256="z" * 64), "photo 2 sha256"),
        (lambda d: d["photos"][0]["pdq_dihedral"].pop(), "pdq_dihedral must list 8"),
        (lambda d: d["photos"][0].update(pdq="0" * 64), "pdq_dihedral[0] is not its pdq"),
        (lambda d: d["photos"][0].update(pdq_quality=101), "pdq_quality"),
        (lambda d: d["photos"][0].update(path="/home/x.jpg"), "unknown field(s) path"),
        (lambda d: d["photos"][0]["face"].update(embedding="AAAA"), "not 128 float32"),
        (
            lambda d: d["photos"][0]["face"].update(
                embedding=base64.b64encode(np.full(128, 0.5, "<f4").tobytes()).decode()
            ),
            "not a unit vector",
        ),
        (lambda d: d["consent"].pop("scope"), "missing scope"),
        (lambda d: d["consent"].update({"a\nb": "x"}), "unknown field(s) a\\x0ab"),
        (lambda d: d["consent"].update(expires_at="2026-01-01"), "has passed"),
        (lambda d: d.update(face_model="sface:" + "1" * 64), "another SFace model"),
    ],
)
def test_a_bad_field_is_refused_and_nothing_is_stored(
    tmp_path: Path, change: Any, reason: str
) -> None:
    svc = FakeService()
    blob = build_pack(_photos(tmp_path)[:2], svc.public_key, consent_file(tmp_path))
    doc = _open(svc, blob)
    change(doc)
    with pytest.raises(MatchServiceError) as caught:
        import_pack(svc, ADVOCATE, _sealed(svc, doc))
    assert caught.value.code is MatchErrorCode.BAD_PACK and caught.value.http_status == 422
    assert reason in caught.value.message and "\n" not in caught.value.message
    assert svc.persons == {} and svc.contents == [] and svc.templates == []


def test_garbage_is_a_bad_pack(tmp_path: Path) -> None:
    svc = FakeService()
    for blob in (b"", b"not sealed at all", _sealed(svc, {"x": 1})[:-1]):
        with pytest.raises(MatchServiceError) as caught:
            import_pack(svc, ADVOCATE, blob)
        assert caught.value.code is MatchErrorCode.BAD_PACK
    assert import_pack.__name__ and svc.persons == {}


def test_the_same_pack_twice_is_stored_once(tmp_path: Path) -> None:
    svc = FakeService()
    blob = build_pack(_photos(tmp_path)[:2], svc.public_key, consent_file(tmp_path))
    first = import_pack(svc, ADVOCATE, blob)
    again = import_pack(svc, ADVOCATE, blob)
    assert (again.added, again.signals, again.person_id) == (0, 0, first.person_id)
    assert again.skipped == (f"pack already imported as person {first.person_id}: nothing added",)
    assert len(svc.persons) == 1 and len(svc.contents) == 2
    with pytest.raises(MatchServiceError) as caught:
        import_pack(svc, Caller(9, "other", ServiceRole.ADVOCATE), blob)
    assert caught.value.code is MatchErrorCode.BAD_PACK and "another key" in caught.value.message
    # a new pack of the same photos (sealed again: another ephemeral key) is another person
    import_pack(
        svc, ADVOCATE, build_pack(_photos(tmp_path)[:2], svc.public_key, consent_file(tmp_path))
    )
    assert len(svc.persons) == 2


def test_a_failure_half_way_withdraws_the_person(tmp_path: Path) -> None:
    svc = FakeService(fail_on_content=1)
    blob = build_pack(_photos(tmp_path), svc.public_key, consent_file(tmp_path))
    with pytest.raises(MatchServiceError):
        import_pack(svc, ADVOCATE, blob)
    assert svc.withdrawn == [1] and svc.contents == [] and svc.templates == []
    assert svc.records == []


def test_roles_and_bank_kind(tmp_path: Path) -> None:
    svc = FakeService()
    blob = build_pack([lfw("Colin_Powell", 1)], svc.public_key, consent_file(tmp_path))
    with pytest.raises(MatchServiceError) as caught:
        import_pack(svc, MATCHER, blob)
    assert caught.value.code is MatchErrorCode.FORBIDDEN
    svc.banks["NCII"] = "hash"
    with pytest.raises(MatchServiceError) as caught:
        import_pack(svc, ADVOCATE, blob, bank="NCII")
    assert (
        caught.value.code is MatchErrorCode.BAD_REQUEST
        and "not a pack bank" in caught.value.message
    )
    assert svc.persons == {}


def test_victim_side_refusals(tmp_path: Path) -> None:
    key = FakeService().public_key
    consent = consent_file(tmp_path)
    with pytest.raises(PackError, match="not base64"):
        build_pack([lfw("Colin_Powell", 1)], "%%%", consent)
    with pytest.raises(PackError, match="not 32"):
        build_pack([lfw("Colin_Powell", 1)], base64.b64encode(b"short").decode(), consent)
    with pytest.raises(PackError, match="missing recorded_by"):
        bad = tmp_path / "bad"
        bad.mkdir()
        build_pack([lfw("Colin_Powell", 1)], key, consent_file(bad, recorded_by=None))
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")
    with pytest.raises(PackError, match=r"photo 2 \(.*notes.txt\): not a usable image"):
        build_pack([lfw("Colin_Powell", 1), text], key, consent)
    with pytest.raises(PackError, match="no photos"):
        build_pack([], key, consent)


# --- the command ----------------------------------------------------------------------------------
def _run(*args: object) -> Any:
    return CliRunner().invoke(main, ["pack", *[str(a) for a in args]])


def test_pack_command(tmp_path: Path) -> None:
    svc = FakeService()
    key_file = tmp_path / "service.key"
    key_file.write_text(svc.public_key + "\n")
    consent = consent_file(tmp_path)
    out = tmp_path / "my.pack"
    photos = _photos(tmp_path)
    result = _run(*photos, "--to", key_file, "--consent", consent, "--out", out)
    assert result.exit_code == 0, result.output
    assert "photo 1/3: hashes + PDQ + face" in result.stderr
    assert "photo 3/3: hashes + PDQ (no face found: hashes only)" in result.stderr
    assert "3 photo(s), 3 with PDQ, 2 face template(s); consent of Colin Powell" in result.stdout
    assert not re.search(r"[0-9a-f]{32}", result.output)  # counts, never hashes
    assert len(_open(svc, out.read_bytes())["photos"]) == 3
    # the key given as text works too; an existing --out is kept without --force
    again = _run(photos[0], "--to", svc.public_key, "--consent", consent, "--out", out)
    assert (
        again.exit_code == 2
        and again.stderr.strip() == f"error: {out} exists; use --force to replace it"
    )
    forced = _run(photos[0], "--to", svc.public_key, "--consent", consent, "--out", out, "--force")
    assert forced.exit_code == 0 and len(_open(svc, out.read_bytes())["photos"]) == 1


def test_pack_command_errors_are_one_line(tmp_path: Path) -> None:
    key = FakeService().public_key
    consent = consent_file(tmp_path)
    photo = lfw("Colin_Powell", 1)
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = [
        ((photo, "--to", tmp_path / "absent.key", "--consent", consent), "--to:"),
        ((photo, "--to", key, "--consent", consent_file(bad, scope=None)), "missing scope"),
        ((tmp_path / "absent.jpg", "--to", key, "--consent", consent), "photo 1"),
    ]
    for args, expected in cases:
        result = _run(*args, "--out", tmp_path / "x.pack")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
        assert not (tmp_path / "x.pack").exists()


def test_pack_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["pack", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and "consentry pack me1.jpg" in result.output
    assert "--to" in result.output and "--force" in result.output


# --- against the real service (part 2's open_service, SQLite in a temporary home) ------------
def test_pack_into_the_real_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from consentry.services.matching.service import open_service

    admin = Caller.local()
    with open_service(tmp_path / "home", start_sync=False) as svc:
        advocate = svc.authenticate(svc.add_key(admin, ServiceRole.ADVOCATE, "helpline").token)
        matcher = svc.authenticate(svc.add_key(admin, ServiceRole.MATCHER, "platform").token)
        key_file = tmp_path / "service.key"
        key_file.write_text(svc.pack_public_key())
        out = tmp_path / "my.pack"
        result = _run(
            *_photos(tmp_path), "--to", key_file, "--consent", consent_file(tmp_path), "--out", out
        )
        assert result.exit_code == 0, result.output
        imported = import_pack(svc, advocate, out.read_bytes())
        assert (imported.bank, imported.added, imported.signals) == (PACK_BANK, 3, 30)
        (person,) = svc.list_persons(advocate)
        assert person.id == imported.person_id and person.owner_key_id == advocate.key_id
        assert (person.templates, person.contents) == (2, 3)
        assert svc.get_bank(admin, PACK_BANK).kind == "pack"
        # a mirrored copy of a packed photo is blocked; an explicit (stand-in) other photo of
        # the person is blocked through the face template
        monkeypatch.setattr(
            explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(FixedScorer(0.01))
        )
        buf = io.BytesIO()
        ImageOps.mirror(Image.open(lfw("Colin_Powell", 1))).save(buf, "JPEG", quality=85)
        assert screen(svc, matcher, buf.getvalue()).decision is Decision.BLOCK
        monkeypatch.setattr(
            explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(FixedScorer(0.97))
        )
        fake = screen(svc, matcher, lfw("Colin_Powell", 6).read_bytes())
        assert fake.decision is Decision.BLOCK, fake.reasons
        assert fake.faces[0].person_id == person.id and fake.faces[0].person_label == person.label
        # another service's key does not open it
        with open_service(tmp_path / "other", start_sync=False) as other:
            with pytest.raises(MatchServiceError) as caught:
                import_pack(
                    other,
                    other.authenticate(other.add_key(admin, ServiceRole.ADVOCATE, "x").token),
                    out.read_bytes(),
                )
            assert caught.value.code is MatchErrorCode.BAD_PACK
        # withdrawal removes it all: the copy is no longer matched
        svc.withdraw_person(advocate, person.id)
        assert screen(svc, matcher, lfw("Colin_Powell", 6).read_bytes()).decision is Decision.ALLOW
        # the same sealed pack sent again does not enrol the person again
        with pytest.raises(MatchServiceError) as replayed:
            import_pack(svc, advocate, out.read_bytes())
        assert replayed.value.code is MatchErrorCode.BAD_PACK
        assert "withdrawn" in replayed.value.message and svc.list_persons(advocate) == []
        svc.flush_audit()
        ok, why = svc.verify_audit()
        assert ok, why
        actions = [e.action for e in svc.audit_log(admin, limit=100)]
        assert "pack.import" in actions


# --- whatever a sealed pack holds, the answer is BAD_PACK or a checked pack, never a crash ----
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


def _valid_document() -> dict[str, Any]:
    vector = np.zeros(128, "<f4")
    vector[0] = 1.0
    pdq_hex = "a5" * 32
    return {
        "format": "consentry-pack",
        "version": 1,
        "created_at": "2026-12-02T00:00:00Z",
        "consent": {
            "consented_by": "A",
            "consented_at": "2026-11-01",
            "scope": "s",
            "recorded_by": "A",
        },
        "consent_sha256": "0" * 64,
        "face_model": "sface:" + "1" * 64,
        "photos": [
            {
                "sha256": "1" * 64,
                "md5": "2" * 32,
                "pdq": pdq_hex,
                "pdq_quality": 90,
                "pdq_dihedral": [pdq_hex] + ["5a" * 32] * 7,
                "face": {"embedding": base64.b64encode(vector.tobytes()).decode(), "size_px": 80},
            }
        ],
    }


def _holds(target: object, key: object) -> bool:
    if isinstance(target, dict):
        return key in target
    return isinstance(target, list) and isinstance(key, int) and key < len(target)


def test_the_fuzzed_document_is_valid_as_it_stands() -> None:
    contents = parse_pack(json.dumps(_valid_document()).encode())
    (photo,) = contents.photos
    assert len(photo.signals) == 4 and photo.embedding is not None  # sha, md5, 2 distinct PDQ


@settings(max_examples=300, deadline=None)
@given(
    path=st.lists(
        st.sampled_from(["photos", 0, "face", "consent", "pdq_dihedral", "embedding"]),
        min_size=1,
        max_size=3,
    ),
    value=_json,
)
def test_any_field_value_is_a_bad_pack_or_a_checked_pack(path: list[object], value: object) -> None:
    doc: Any = _valid_document()
    target = doc
    for key in path[:-1]:
        if _holds(target, key):
            target = target[key]
    if _holds(target, path[-1]) or (isinstance(target, dict) and isinstance(path[-1], str)):
        target[path[-1]] = value
    try:
        contents = parse_pack(json.dumps(doc, allow_nan=True).encode())
    except MatchServiceError as exc:
        assert exc.code is MatchErrorCode.BAD_PACK and "\n" not in exc.message
    else:
        for photo in contents.photos:
            assert all(s.value == s.value.lower() for s in photo.signals)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_a_bad_pack(data: bytes) -> None:
    with pytest.raises(MatchServiceError) as caught:
        parse_pack(data)
    assert caught.value.code is MatchErrorCode.BAD_PACK


def test_a_yaml_consent_record_is_read_as_enrollment_reads_it(tmp_path: Path) -> None:
    svc = FakeService()
    consent = tmp_path / "consent.yaml"
    consent.write_text(
        "consented_by: Colin Powell\nconsented_at: 2026-11-30\n"
        "scope: block intimate images of me\nrecorded_by: A. Advocate\n"
        "on_behalf_of: null\nexpires_at: 2030-01-01\n"
    )
    doc = _open(svc, build_pack([lfw("Colin_Powell", 1)], svc.public_key, consent))
    assert doc["consent"]["consented_at"] == "2026-11-30"
    assert doc["consent"]["expires_at"] == "2030-01-01"
    assert doc["consent_sha256"] == hashlib.sha256(consent.read_bytes()).hexdigest()
    consent.write_text("consented_by: Colin Powell\nconsented_at: 2026-13-45\n")
    with pytest.raises(PackError, match="2026-13-45"):
        build_pack([lfw("Colin_Powell", 1)], svc.public_key, consent)
