"""Upload screening decides block / review / allow by the policy table in
``services/matching/screening.py``, with a reason per deciding fact.

Harmless pictures only: LFW news photos for faces, synthetic textures for hashes; the explicit
classifier is a stand-in at its seam (``analyzers.explicit.load_explicit``)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from consentry.analyzers import explicit as explicit_mod
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.analyzers.faces import load_faces
from consentry.analyzers.pdq import hamming
from consentry.media.decode import decode_image
from consentry.services.matching import screening
from consentry.services.matching.hashing import hash_image
from consentry.services.matching.screening import BLOCK_PDQ_DISTANCE, NEAR_PDQ_DISTANCE, screen
from consentry.services.matching.types import (
    Caller,
    Decision,
    LookupResult,
    Match,
    ServiceRole,
    Signal,
    SignalType,
)

from .stand_ins import FixedScorer
from .synthetic import photo_like

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
needs_lfw = pytest.mark.skipif(not LFW.is_dir(), reason="../shared/data/faces/lfw is absent")
MATCHER = Caller(7, "platform", ServiceRole.MATCHER)


@dataclass
class FakeService:
    """The two methods screening calls, over in-memory bank entries (brute-force distances)."""

    entries: list[tuple[str, int, SignalType, str]] = field(default_factory=list)
    templates: list[tuple[int, str, np.ndarray]] = field(default_factory=list)
    calls: list[tuple[Caller, tuple[Signal, ...], int]] = field(default_factory=list)

    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: Sequence[str] | None = None,
        threshold: int = 31,
    ) -> list[LookupResult]:
        self.calls.append((caller, tuple(signals), threshold))
        out = []
        for s in signals:
            found = []
            for bank, cid, kind, value in self.entries:
                if kind is not s.signal_type:
                    continue
                d = hamming(s.value, value) if kind is SignalType.PDQ else (value != s.value) * 256
                if d <= (threshold if kind is SignalType.PDQ else 0):
                    found.append(Match(kind, bank, cid, d, value))
            out.append(
                LookupResult(s.signal_type, s.value, tuple(sorted(found, key=lambda m: m.distance)))
            )
        return out

    def face_templates(self) -> list[tuple[int, str, np.ndarray]]:
        return list(self.templates)


def _jpeg(picture: Image.Image) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _flip_bits(hex_value: str, bits: int, seed: int = 0) -> str:
    n = int(hex_value, 16)
    for b in np.random.default_rng(seed).choice(256, size=bits, replace=False):
        n ^= 1 << int(b)
    return f"{n:064x}"


def _lfw(person: str, number: int) -> bytes:
    return (LFW / person / f"{person}_{number:04d}.jpg").read_bytes()


def _embedding(data: bytes) -> np.ndarray:
    faces = load_faces().analyze(decode_image(data).rgb).faces
    assert faces and faces[0].embedding is not None
    return max(faces, key=lambda f: f.quality.size_px).embedding  # type: ignore[return-value]


@pytest.fixture
def scorer(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Set the stand-in Open-NSFW score for this test: ``scorer(0.97)``."""

    def use(score: float) -> None:
        stand_in = FixedScorer(score)
        monkeypatch.setattr(explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(stand_in))

    use(0.01)
    return use


def test_a_neutral_upload_with_no_match_is_allowed_and_faces_are_not_compared(
    scorer: Callable[[float], None],
) -> None:
    svc = FakeService(templates=[(1, "p", np.ones(128, np.float32) / np.sqrt(128))])
    data = _jpeg(photo_like(4, 400, 300))
    result = screen(svc, MATCHER, data, "image/jpeg")
    assert result.decision is Decision.ALLOW
    assert result.reasons[0].startswith("allow: no bank entry matched")
    assert result.explicit_label == "neutral" and result.explicit_score == pytest.approx(0.01)
    assert result.faces == () and "faces not compared: the image is neutral" in result.reasons
    assert result.hashes == hash_image(data)
    # one lookup: 8 PDQ variants, MD5 and SHA-256, at Meta's distance, as the caller
    (caller, signals, threshold) = svc.calls[0]
    assert len(svc.calls) == 1 and caller == MATCHER and threshold == NEAR_PDQ_DISTANCE
    kinds = [s.signal_type for s in signals]
    assert (
        kinds.count(SignalType.PDQ) == 8 and SignalType.MD5 in kinds and SignalType.SHA256 in kinds
    )


def test_an_exact_copy_is_blocked(scorer: Callable[[float], None]) -> None:
    data = _jpeg(photo_like(5, 300, 300))
    hashed = hash_image(data)
    svc = FakeService(entries=[("NCII", 3, SignalType.SHA256, hashed.sha256)])
    result = screen(svc, MATCHER, data)
    assert result.decision is Decision.BLOCK
    assert result.reasons[0] == "block: sha256 equals bank NCII content 3 (exact copy)"
    sha = next(r for r in result.matches if r.signal_type is SignalType.SHA256)
    assert [(m.bank, m.content_id, m.distance) for m in sha.matches] == [("NCII", 3, 0)]


@pytest.mark.parametrize(
    ("bits", "decision"),
    [
        (0, Decision.BLOCK),
        (BLOCK_PDQ_DISTANCE, Decision.BLOCK),
        (BLOCK_PDQ_DISTANCE + 1, Decision.REVIEW),
        (NEAR_PDQ_DISTANCE, Decision.REVIEW),
        (NEAR_PDQ_DISTANCE + 9, Decision.ALLOW),
    ],
)
def test_pdq_bands(scorer: Callable[[float], None], bits: int, decision: Decision) -> None:
    data = _jpeg(photo_like(6, 320, 240))
    stored = _flip_bits(hash_image(data).pdq or "", bits)
    svc = FakeService(entries=[("BANK", 9, SignalType.PDQ, stored)])
    result = screen(svc, MATCHER, data)
    assert result.decision is decision, result.reasons
    pdq_result = result.matches[0]
    assert pdq_result.signal_type is SignalType.PDQ
    if decision is Decision.ALLOW:
        assert pdq_result.matches == ()
    else:
        # the best of the 8 variants, once per content item
        assert [(m.content_id, m.distance) for m in pdq_result.matches] == [(9, bits)]
        assert f"PDQ {bits} bits from bank BANK content 9" in result.reasons[0]


def test_a_mirrored_copy_meets_the_bank_entry_through_a_dihedral_variant(
    scorer: Callable[[float], None],
) -> None:
    picture = photo_like(8, 320, 240)
    original = hash_image(_jpeg(picture))
    svc = FakeService(entries=[("BANK", 1, SignalType.PDQ, original.pdq or "")])
    mirrored = _jpeg(ImageOps.mirror(picture))
    assert hamming(hash_image(mirrored).pdq or "", original.pdq or "") > NEAR_PDQ_DISTANCE
    result = screen(svc, MATCHER, mirrored)
    assert result.decision in (Decision.BLOCK, Decision.REVIEW), result.reasons
    assert result.matches[0].matches[0].content_id == 1


def test_a_featureless_upload_is_not_matched_on_pdq(scorer: Callable[[float], None]) -> None:
    data = _jpeg(Image.new("RGB", (200, 200), (120, 120, 120)))
    svc = FakeService()
    result = screen(svc, MATCHER, data)
    kinds = {s.signal_type for s in svc.calls[0][1]}
    assert kinds == {SignalType.MD5, SignalType.SHA256}
    assert any(r.startswith("PDQ quality") and "too plain" in r for r in result.reasons)
    assert result.decision is Decision.ALLOW


@needs_lfw
def test_explicit_with_a_consented_persons_face_is_blocked(scorer: Callable[[float], None]) -> None:
    scorer(0.97)
    colin = _embedding(_lfw("Colin_Powell", 1))
    tony = _embedding(_lfw("Tony_Blair", 1))
    svc = FakeService(templates=[(1, "C", colin), (2, "T", tony)])
    result = screen(svc, MATCHER, _lfw("Colin_Powell", 3), "image/jpeg")
    assert result.decision is Decision.BLOCK, result.reasons
    assert result.explicit_label == "explicit"
    (face,) = result.faces
    assert face.person_id == 1 and face.matched and face.similarity >= face.threshold == 0.46
    assert result.reasons[0].startswith("block: explicit and face 1 ~ consented person 1:")
    assert f"{face.similarity:.3f} >= 0.46" in result.reasons[0]


@needs_lfw
def test_explicit_with_another_persons_face_is_allowed(scorer: Callable[[float], None]) -> None:
    scorer(0.97)
    svc = FakeService(templates=[(2, "T", _embedding(_lfw("Tony_Blair", 1)))])
    result = screen(svc, MATCHER, _lfw("Colin_Powell", 3))
    assert result.decision is Decision.ALLOW, result.reasons
    assert result.faces and not result.faces[0].matched and result.faces[0].similarity < 0.41
    assert (
        result.reasons[0].startswith("allow:") and "no consented person's face" in result.reasons[0]
    )


def _at_similarity(embedding: np.ndarray, similarity: float) -> np.ndarray:
    """A unit template whose cosine similarity to ``embedding`` is ``similarity``."""
    rng = np.random.default_rng(1)
    other = rng.normal(size=embedding.shape).astype(np.float64)
    other -= other.dot(embedding) * embedding
    other /= np.linalg.norm(other)
    out = similarity * embedding + np.sqrt(1 - similarity**2) * other
    return (out / np.linalg.norm(out)).astype(np.float32)


@needs_lfw
@pytest.mark.parametrize(
    ("score", "similarity", "decision", "start"),
    [
        (0.97, 0.43, Decision.REVIEW, "review: explicit and face 1 ~ consented person 5: possible"),
        (0.50, 0.60, Decision.REVIEW, "review: suggestive and face 1 ~ consented person 5:"),
        (
            0.50,
            0.43,
            Decision.REVIEW,
            "review: suggestive and face 1 ~ consented person 5: possible",
        ),
        (0.97, 0.60, Decision.BLOCK, "block: explicit and face 1"),
        (0.50, 0.30, Decision.ALLOW, "allow:"),
        (0.01, 0.99, Decision.ALLOW, "allow:"),  # neutral: identity not checked
    ],
)
def test_faces_and_labels(
    scorer: Callable[[float], None],
    score: float,
    similarity: float,
    decision: Decision,
    start: str,
) -> None:
    scorer(score)
    data = _lfw("Hugo_Chavez", 2)
    face = _embedding(data)
    svc = FakeService(templates=[(5, "H", _at_similarity(face, similarity))])
    result = screen(svc, MATCHER, data)
    assert result.decision is decision, result.reasons
    assert result.reasons[0].startswith(start), result.reasons
    if score >= 0.2:
        assert result.faces[0].similarity == pytest.approx(similarity, abs=0.01)


class _Broken:
    model_sha256 = "0" * 64

    def score(self, rgb: np.ndarray) -> float:
        raise RuntimeError("model crashed")


@needs_lfw
def test_a_face_match_without_an_explicit_label_goes_to_review(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(_Broken()))
    data = _lfw("Tony_Blair", 2)
    svc = FakeService(templates=[(2, "T", _embedding(_lfw("Tony_Blair", 1)))])
    result = screen(svc, MATCHER, data)
    assert result.explicit_label is None and result.explicit_score is None
    assert result.decision is Decision.REVIEW, result.reasons
    assert result.reasons[0].startswith(
        "review: not labelled (treated as possibly explicit) and face 1 ~ consented person 2:"
    )


def test_models_load_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[int] = []

    def counting() -> ExplicitAnalyzer:
        loads.append(1)
        return ExplicitAnalyzer(FixedScorer(0.01))

    monkeypatch.setattr(explicit_mod, "load_explicit", counting)
    svc = FakeService()
    for seed in range(3):
        screen(svc, MATCHER, _jpeg(photo_like(seed, 200, 160)))
    assert loads == [1]
    assert screening.screen_models().explicit is screening.screen_models().explicit


def test_a_bad_upload_is_refused_before_any_lookup(scorer: Callable[[float], None]) -> None:
    svc = FakeService()
    with pytest.raises(Exception) as caught:
        screen(svc, MATCHER, b"not an image", "text/plain")
    assert getattr(caught.value, "code", None) is not None
    assert svc.calls == []


# --- against the real service (part 2's open_service, SQLite in a temporary home) ------------
def test_screen_against_the_real_service(tmp_path: Path, scorer: Callable[[float], None]) -> None:
    from consentry.services.matching.service import open_service
    from consentry.services.matching.types import Signal as Sig

    data = _jpeg(photo_like(12, 400, 300))
    hashed = hash_image(data)
    admin = Caller.local()
    with open_service(tmp_path / "home", start_sync=False) as svc:
        key = svc.add_key(admin, ServiceRole.MATCHER, "platform")
        matcher = svc.authenticate(key.token)
        svc.create_bank(admin, "NCII")
        svc.create_bank(admin, "OFF", enabled=False)
        near = _flip_bits(hashed.pdq or "", 12)
        svc.add_content(admin, "NCII", [Sig(SignalType.PDQ, near, 100)])
        svc.add_content(admin, "OFF", [Sig(SignalType.SHA256, hashed.sha256)])
        result = screen(svc, matcher, data, "image/jpeg")
        assert result.decision is Decision.BLOCK, result.reasons
        assert result.reasons[0].startswith("block: PDQ 12 bits from bank NCII content")
        # the disabled bank's exact entry is not matched
        assert not any("OFF" in r for r in result.reasons)
        sha = next(r for r in result.matches if r.signal_type is SignalType.SHA256)
        assert sha.matches == ()
        # another picture: nothing matches
        other = screen(svc, matcher, _jpeg(photo_like(13, 400, 300)))
        assert other.decision is Decision.ALLOW
        svc.flush_audit()
        assert svc.verify_audit()[0]


def test_an_exact_copy_leads_the_reasons_before_its_pdq(scorer: Callable[[float], None]) -> None:
    data = _jpeg(photo_like(14, 300, 300))
    hashed = hash_image(data)
    svc = FakeService(
        entries=[
            ("B", 1, SignalType.PDQ, hashed.pdq or ""),
            ("B", 1, SignalType.MD5, hashed.md5),
        ]
    )
    reasons = screen(svc, MATCHER, data).reasons
    assert reasons[0] == "block: md5 equals bank B content 1 (exact copy)"
    assert reasons[1] == "block: PDQ 0 bits from bank B content 1 (<= 24)"
