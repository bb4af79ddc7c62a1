"""The identity refresh on re-shared copies (issue 13), end to end through a case store: a small
(32-47 px) sharp frontal face of an enrolled person is a ``match``; a blurred small one, or one
under 32 px, stays ``possible``; a usable face just under the match threshold inside a group of
the person's faces is a ``match`` by group support.

Needs the refresh / store wiring of ``bench/out/issue13-reshared-wiring.patch``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cryptography.fernet import Fernet

from consentry.persons import template_crypto
from consentry.persons.refresh import refresh_identities, template_key
from consentry.store.case import open_case
from consentry.store.persons_store import NewTemplate, PersonsStore

CONSENT = {
    "consented_by": "A. Person",
    "consented_at": "2026-01-01",
    "scope": "search this case",
    "recorded_by": "test",
    "method": None,
    "on_behalf_of": None,
    "reference": None,
    "expires_at": None,
    "notes": None,
}


def _near(rng: np.random.Generator, v: np.ndarray, similarity: float) -> np.ndarray:
    noise = rng.normal(size=v.shape).astype(np.float32)
    noise -= noise.dot(v) * v
    noise /= np.linalg.norm(noise)
    return (similarity * v + np.sqrt(1 - similarity**2) * noise).astype(np.float32)


def test_small_faces_and_group_support_in_the_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(template_crypto.ENV_VAR, Fernet.generate_key().decode())
    rng = np.random.default_rng(11)
    template = rng.normal(size=128).astype(np.float32)
    template /= np.linalg.norm(template)
    # (similarity to the person, size_px, usable, flags)
    faces = [
        (0.80, 100.0, 1, ""),  # a clear photo of the person
        (0.78, 100.0, 1, ""),
        (0.79, 100.0, 1, ""),
        (0.44, 100.0, 1, ""),  # a re-shared copy: usable, just under match, in their group
        (0.70, 40.0, 0, "too_small"),  # small, sharp, frontal
        (0.70, 40.0, 0, "too_small,blurry"),
        (0.70, 28.0, 0, "too_small"),  # under 32 px
    ]
    case = open_case(tmp_path / "case", create=True)
    try:
        shas = [f"{i:064x}" for i in range(len(faces))]
        # the person's photos in this case share a direction beside the template (lighting,
        # age), so that they cluster together: similarity s to the template, the rest along it
        shared = _near(rng, template, 0.0)
        vectors = []
        for s, *_ in faces:
            v = s * template + np.sqrt(1 - s**2) * shared + rng.normal(size=128) * 0.01
            vectors.append((v / np.linalg.norm(v)).astype(np.float32))
        with case.store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO contents (sha256, md5, sha1, size, mime, is_image) "
                "VALUES (?, '', '', 0, 'image/jpeg', 1)",
                [(s,) for s in shas],
            )
            conn.exec_driver_sql(
                "INSERT INTO faces (sha256, face_index, box_x, box_y, box_w, box_h, "
                "analysis_side, landmarks, detector_score, size_px, sharpness, frontalness, "
                "usable, flags, embedding) VALUES (?, 0, 0, 0, ?, ?, 512, '[]', 0.9, ?, 100, 1, "
                "?, ?, ?)",
                [
                    (sha, size, size, size, usable, flags, vec.astype("<f4").tobytes())
                    for sha, vec, (_, size, usable, flags) in zip(shas, vectors, faces, strict=True)
                ],
            )
        ps = PersonsStore(case.store.engine)
        key = template_key(ps, case.path, create=True)
        ps.add_enrolled(
            "A. Person",
            json.dumps(CONSENT),
            "0" * 64,
            None,
            [NewTemplate("f" * 64, "0" * 32, None, None, 0, {}, key.encrypt(template))],
        )
        outcome = refresh_identities(case.store, case.path, force=True)
        assert outcome is not None
        with case.store.engine.connect() as conn:
            levels = dict(conn.exec_driver_sql("SELECT sha256, level FROM face_matches").all())
        assert [levels.get(s) for s in shas] == [
            "match",
            "match",
            "match",
            "match",  # group support (its group: the three clear photos and itself)
            "match",  # small face rule
            "possible",  # blurred: never identified
            "possible",  # under 32 px: never identified
        ]
        assert outcome.small_face_matches == 1
        assert outcome.matches_promoted_by_group == 1
    finally:
        case.close()
