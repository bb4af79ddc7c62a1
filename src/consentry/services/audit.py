"""The case's hash-chained audit log: verify it (against audit.head, anchors kept outside the
case and examiner public keys), take an anchor, sign it with an examiner key, make such a key,
and list the events.

Verification is a result, not an error: ``Verification.findings`` says what was tampered with.
Anchoring and signing a log that does not verify is refused with ``AuditTampered`` (code
``TAMPERED``, with the findings): an anchor or a signature would vouch for a tampered log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened, opened_readonly

if TYPE_CHECKING:
    from consentry.store.audit import Anchor, AuditFinding, StoredEvent
    from consentry.store.audit_sign import Signature
    from consentry.store.case import Case


class AuditTampered(ServiceError):
    """The audit log does not verify, so the action was refused; ``findings`` says why."""

    def __init__(self, message: str, findings: tuple[AuditFinding, ...]) -> None:
        super().__init__(ErrorCode.TAMPERED, message)
        self.findings = findings


@dataclass(frozen=True)
class Verification:
    """What ``verify_audit`` found. ``findings`` empty: the chain is intact."""

    events: int
    newest_seq: int  # 0 for an empty log (which is a finding)
    newest_hash: str
    findings: tuple[AuditFinding, ...]
    anchors: tuple[Anchor, ...]  # the anchors checked, as given
    newest_signature: Signature | None  # the valid signature covering the most events
    signed_by_given_key: bool  # newest_signature is by one of the public keys passed in
    proves: str  # what an intact chain proves
    cannot_prove: str | None  # what it cannot prove; None when anchors were checked


def verify_audit(
    case_ref: CaseRef, anchors: tuple[str, ...] = (), public_keys: tuple[str, ...] = ()
) -> Verification:
    """Check that no event was edited, deleted, reordered or appended, against audit.head,
    the ``anchors`` (``SEQ:HASH`` recorded outside the case) and, with ``public_keys``
    (``ed25519:...``), that the log carries a valid signature by one of them. A malformed
    anchor or key is ``MISUSE``."""
    from consentry.store.audit import CANNOT_PROVE, PROVES, parse_anchor, verify_chain
    from consentry.store.audit_sign import check_signatures, parse_public_key

    try:
        wanted = tuple(parse_anchor(a) for a in anchors)
        for k in public_keys:
            parse_public_key(k)
    except ValueError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    with opened_readonly(case_ref) as case:
        events, head = _read_chain(case)
    findings = verify_chain(events, head, wanted, case.case_id)
    signature_findings, signatures = check_signatures(events, case.case_id, public_keys)
    newest = max(signatures, key=lambda sig: sig.signed_seq) if signatures else None
    return Verification(
        events=len(events),
        newest_seq=events[-1].seq if events else 0,
        newest_hash=events[-1].hash if events else "",
        findings=tuple(findings + signature_findings),
        anchors=wanted,
        newest_signature=newest,
        signed_by_given_key=newest is not None and newest.public_key in public_keys,
        proves=PROVES,
        cannot_prove=None if wanted else CANNOT_PROVE,
    )


def take_anchor(case_ref: CaseRef) -> Anchor:
    """The newest event as ``SEQ:HASH``, to record outside the case; refused
    (``AuditTampered``) when the log does not verify now."""
    from consentry.store.audit import anchor_of, verify_chain
    from consentry.store.audit_sign import check_signatures

    with opened_readonly(case_ref) as case:
        events, head = _read_chain(case)
    findings = (
        verify_chain(events, head, (), case.case_id) + check_signatures(events, case.case_id)[0]
    )
    anchor = anchor_of(events)
    if findings or anchor is None:
        raise AuditTampered("the audit log does not verify: no anchor printed", tuple(findings))
    return anchor


def audit_events(case_ref: CaseRef) -> tuple[StoredEvent, ...]:
    """Every audit event of the case, in order."""
    with opened_readonly(case_ref) as case:
        return tuple(case.store.audit_events())


def new_signing_key(out: Path) -> str:
    """Write a new examiner signing key (Ed25519, PKCS#8 PEM, mode 0600, never over an
    existing file) to ``out``; its public key as ``ed25519:...``."""
    from consentry.store.audit_sign import SigningKeyError, generate

    try:
        return generate(out)
    except SigningKeyError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None


@dataclass(frozen=True)
class AuditSigned:
    signed_seq: int  # the newest event the signature covers
    public_key: str  # ed25519:...
    event_seq: int  # the audit_signed event


def sign_audit(case_ref: CaseRef, key_file: Path, examiner: str | None = None) -> AuditSigned:
    """Append an ``audit_signed`` event: the examiner's signature (private key in
    ``key_file``) over the case id and the newest event. The key is read before the case is
    opened; refused (``AuditTampered``) when the log does not verify now."""
    from consentry.store.audit import read_head, verify_chain
    from consentry.store.audit_sign import (
        ACTION,
        SigningKeyError,
        check_signatures,
        load_private,
        sign_payload,
    )
    from consentry.store.case import HEAD_FILE

    try:
        key = load_private(key_file)
    except SigningKeyError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    with opened(case_ref) as case:
        events = case.store.audit_events()
        findings = verify_chain(events, read_head(case.path / HEAD_FILE), (), case.case_id)
        findings += check_signatures(events, case.case_id)[0]
        if findings:
            raise AuditTampered("the audit log does not verify: not signed", tuple(findings))
        payload = sign_payload(key, case.case_id, events[-1])
        seq = case.store.append_audit(ACTION, examiner, payload)
    return AuditSigned(int(str(payload["signed_seq"])), str(payload["public_key"]), seq)


def _read_chain(case: Case) -> tuple[list[StoredEvent], tuple[int, str] | None]:
    """The events and audit.head, read so that a command writing meanwhile is not taken for
    tampering: the head is read before and after the events, until both reads agree."""
    from consentry.store.audit import read_head
    from consentry.store.case import HEAD_FILE

    for _ in range(5):
        before = read_head(case.path / HEAD_FILE)
        events = case.store.audit_events()
        head = read_head(case.path / HEAD_FILE)
        if head == before:
            break
    return events, head


__all__ = [
    "AuditSigned",
    "AuditTampered",
    "Verification",
    "audit_events",
    "new_signing_key",
    "sign_audit",
    "take_anchor",
    "verify_audit",
]
