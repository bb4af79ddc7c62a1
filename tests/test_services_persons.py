"""The persons, notices and audit services called directly, as the web app and the matching
service will call them: typed requests in, typed results out, ``ServiceError`` instead of
printing, and the same audit events as the CLI records.

Enrollment uses the real face model on harmless LFW news photos (skipped without them).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from consentry.persons.template_crypto import ENV_VAR
from consentry.services.audit import (
    AuditTampered,
    audit_events,
    new_signing_key,
    sign_audit,
    take_anchor,
    verify_audit,
)
from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened
from consentry.services.notices import mark_notice_sent, notice_states
from consentry.services.persons import (
    EnrollRequest,
    PhotosRefused,
    RemoveRequest,
    enroll_person,
    list_persons,
    remove_person,
    show_person,
)

from .synthetic import write_jpeg

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
COLIN = "Colin_Powell"
needs_faces = pytest.mark.skipif(
    not LFW.is_dir(), reason="../shared/data/faces/lfw (harmless labelled faces) is absent"
)


def lfw(person: str, number: int) -> Path:
    return LFW / person / f"{person}_{number:04d}.jpg"


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


def consent_file(folder: Path, name: str = "Colin Powell") -> Path:
    path = folder / "consent.json"
    path.write_text(
        json.dumps(
            {
                "consented_by": name,
                "consented_at": "2026-01-02",
                "scope": "search this case for images of me",
                "recorded_by": "A. Examiner",
            }
        )
    )
    return path


def actions(ref: CaseRef) -> list[str]:
    return [e.action for e in audit_events(ref)]


@needs_faces
def test_enroll_list_show_remove(tmp_path: Path) -> None:
    ref = CaseRef(tmp_path / "case")
    enrolled = enroll_person(
        EnrollRequest(
            ref,
            "  Colin Powell ",
            consent_file(tmp_path),
            (lfw(COLIN, 1), lfw(COLIN, 2)),
            examiner="A. Examiner",
        )
    )
    assert (enrolled.code, enrolled.name, len(enrolled.references)) == ("E1", "Colin Powell", 2)
    assert not enrolled.case_has_faces and enrolled.references_in_evidence == ()
    assert enrolled.key_file == ref.path.absolute() / "keys" / "templates.key"

    (event,) = [e for e in audit_events(ref) if e.action == "person_enrolled"]
    payload = json.loads(event.payload)
    assert event.actor == "A. Examiner"
    assert payload["person"] == "E1" and payload["templates"] == 2
    assert payload["reference_photos_sha256"] == [r.sha256 for r in enrolled.references]
    assert payload["key_source"] == "case key file"

    listing = list_persons(ref)
    assert [(p.id, p.name, p.templates, p.consent) for p in listing.enrolled] == [
        ("E1", "Colin Powell", 2, "valid")
    ]
    assert listing.enrolled[0].consented_by == "Colin Powell" and listing.unidentified == ()
    detail = show_person(ref, "e1").as_dict()
    assert detail["id"] == "E1" and detail["consent"]["scope"].startswith("search this case")
    assert [t["face"] for t in detail["templates"]] == [1, 1]

    with pytest.raises(ServiceError) as again:
        enroll_person(EnrollRequest(ref, "colin powell", consent_file(tmp_path), (lfw(COLIN, 3),)))
    assert again.value.code is ErrorCode.MISUSE and "already enrolled" in again.value.message

    asked: list[tuple[str, str | None]] = []
    removal = remove_person(
        RemoveRequest(ref, "E1", reason="consent withdrawn"),
        confirm=lambda code, name: asked.append((code, name)),
    )
    assert asked == [("E1", "Colin Powell")]
    assert (removal.code, removal.templates, removal.matches) == ("E1", 2, 0)
    assert removal.face_crops_not_deleted == () and removal.wal_truncated
    assert list_persons(ref).enrolled == ()
    removed = json.loads(audit_events(ref)[-1].payload)
    assert actions(ref)[-1] == "person_removed" and removed["reason"] == "consent withdrawn"

    with pytest.raises(ServiceError) as gone:
        remove_person(RemoveRequest(ref, "E1"))
    assert gone.value.code is ErrorCode.MISUSE and "no person E1" in gone.value.message
    assert not verify_audit(ref).findings


@needs_faces
def test_refused_photos_store_nothing(tmp_path: Path) -> None:
    ref = CaseRef(tmp_path / "case")
    landscape = write_jpeg(tmp_path / "landscape.jpg", seed=3, width=400, height=300)
    with pytest.raises(PhotosRefused) as refused:
        enroll_person(
            EnrollRequest(ref, "Colin Powell", consent_file(tmp_path), (landscape, lfw(COLIN, 1)))
        )
    assert refused.value.code is ErrorCode.MISUSE and len(refused.value.reasons) == 1
    assert refused.value.message.endswith("(nothing was stored)")
    assert not ref.path.exists()


def test_consent_for_someone_else_is_refused_before_the_case(tmp_path: Path) -> None:
    ref = CaseRef(tmp_path / "case")
    with pytest.raises(ServiceError) as refused:
        enroll_person(
            EnrollRequest(ref, "Jane Doe", consent_file(tmp_path), (tmp_path / "any.jpg",))
        )
    assert refused.value.code is ErrorCode.MISUSE and not ref.path.exists()


def test_notice_marked_sent(tmp_path: Path) -> None:
    ref = CaseRef(tmp_path / "case")
    with opened(ref, create=True) as case:
        # what writing a report with --format notice records (reports.notice.record_created)
        case.store.append_audit(
            "notice_created",
            None,
            {
                "notice_id": "N0000CAFE",
                "platform": "pics.example",
                "person": "E1",
                "urls": ["https://pics.example/a"],
                "item_hashes": ["ab" * 32],
                "notice_file": "notice-N0000CAFE-pics.example.md",
                "notice_sha256": "cd" * 32,
                "report_id": "R1",
            },
        )
    now = datetime.now(UTC)
    (pending,) = notice_states(ref, now)
    assert (pending.notice_id, pending.status, pending.items) == ("N0000CAFE", "pending", 1)

    sent = mark_notice_sent(ref, " n0000cafe ", now, examiner="A. Examiner")
    assert sent.notice_id == "N0000CAFE" and sent.deadline == now + timedelta(hours=48)
    (state,) = notice_states(ref, now + timedelta(hours=49))
    assert state.status == "overdue" and state.sent == now.isoformat()
    assert actions(ref)[-1] == "notice_sent"

    with pytest.raises(ServiceError) as twice:
        mark_notice_sent(ref, "N0000CAFE", now)
    assert twice.value.code is ErrorCode.MISUSE and "already marked sent" in twice.value.message


def test_verify_anchor_sign_and_tampering(tmp_path: Path) -> None:
    ref = CaseRef(tmp_path / "case")
    with opened(ref, create=True):
        pass
    anchor = take_anchor(ref)
    checked = verify_audit(ref, anchors=(str(anchor),))
    assert checked.findings == () and checked.events == 1 and checked.cannot_prove is None
    assert (checked.newest_seq, checked.newest_hash) == (anchor.seq, anchor.hash)

    public = new_signing_key(tmp_path / "examiner.key")
    signed = sign_audit(ref, tmp_path / "examiner.key", examiner="J. Doe")
    assert (signed.signed_seq, signed.public_key, signed.event_seq) == (1, public, 2)
    trusted = verify_audit(ref, public_keys=(public,))
    assert trusted.findings == () and trusted.signed_by_given_key
    assert trusted.cannot_prove is not None

    with pytest.raises(ServiceError) as bad:
        verify_audit(ref, anchors=("not an anchor",))
    assert bad.value.code is ErrorCode.MISUSE

    with sqlite3.connect(ref.path / "case.sqlite") as db:
        db.execute("UPDATE audit_events SET actor = 'someone else' WHERE seq = 2")
    assert verify_audit(ref).findings
    with pytest.raises(AuditTampered) as refused:
        take_anchor(ref)
    assert refused.value.code is ErrorCode.TAMPERED and refused.value.findings
    with pytest.raises(AuditTampered):
        sign_audit(ref, tmp_path / "examiner.key")
