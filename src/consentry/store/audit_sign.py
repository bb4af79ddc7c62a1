"""Examiner signatures on the audit log (Ed25519, ``cryptography``): optional, beside anchors.

``consentry audit sign`` appends an ``audit_signed`` event whose payload holds an Ed25519
signature, by the examiner's private key, over this case's id and the newest event's sequence
number and hash. Through the hash chain that covers every event up to it. The signature can
live inside the case because nobody without the private key can make a new one: a log rewritten
later keeps old signatures only over hashes it no longer has, and ``audit verify`` names them.

What it proves depends on where the verifier got the public key: the event carries the key
that signed it, so anyone can sign a rewritten log with a key of their own. Pass the examiner's
public key, obtained outside the case, as ``audit verify --public-key``; only then does a valid
signature show that the examiner signed the log as it is, up to that event.

Key files: ``consentry audit keygen --out examiner.key`` writes the private key (PKCS#8 PEM,
mode 0600, never into a case) and prints the public key as ``ed25519:<base64>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from consentry.store.audit import AuditFinding, StoredEvent, canonical_json

ACTION = "audit_signed"
PREFIX = "ed25519:"


class SigningKeyError(ValueError):
    """A key file or public key that cannot be used (one line for the examiner)."""


@dataclass(frozen=True)
class Signature:
    """A valid signature found in the log."""

    event_seq: int  # the audit_signed event
    signed_seq: int  # the newest event it covers
    public_key: str  # ed25519:<base64>


def signed_message(case_id: str, seq: int, hash_: str) -> bytes:
    return canonical_json(
        {"v": 1, "what": "consentry audit log", "case_id": case_id, "seq": seq, "hash": hash_}
    ).encode("utf-8")


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    try:
        if not text.startswith(PREFIX):
            raise ValueError
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise SigningKeyError(
            f"public key {text[:60]!r} is not ed25519:<base64> (as `consentry audit keygen` "
            "prints it)"
        ) from None


def generate(path: Path) -> str:
    """Write a new private key to ``path`` (0600, never over an existing file); the public key."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SigningKeyError(f"{path} exists: choose another file for the new key") from None
    except OSError as exc:
        raise SigningKeyError(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return public_key_text(key.public_key())


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read key file {path}: {exc.strerror}") from None
    if os.stat(path).st_mode & 0o077:
        raise SigningKeyError(f"key file {path} is readable by others: chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SigningKeyError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key (`consentry audit keygen`)")
    return key


def sign_payload(key: Ed25519PrivateKey, case_id: str, newest: StoredEvent) -> dict[str, object]:
    """The payload of the ``audit_signed`` event that signs the log up to ``newest``."""
    signature = key.sign(signed_message(case_id, newest.seq, newest.hash))
    return {
        "signed_seq": newest.seq,
        "signed_hash": newest.hash,
        "public_key": public_key_text(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def check_signatures(
    events: list[StoredEvent], case_id: str, trusted: Iterable[str] = ()
) -> tuple[list[AuditFinding], list[Signature]]:
    """Every ``audit_signed`` event must hold a valid signature over an event still in the log
    with the signed hash. With ``trusted`` public keys, at least one valid signature must be
    by one of them. Returns (findings, valid signatures)."""
    by_seq = {e.seq: e for e in events}
    findings: list[AuditFinding] = []
    valid: list[Signature] = []
    for event in events:
        if event.action != ACTION:
            continue
        try:
            payload = json.loads(event.payload)
            seq, hash_ = int(payload["signed_seq"]), str(payload["signed_hash"])
            public = str(payload["public_key"])
            signature = base64.b64decode(str(payload["signature"]), validate=True)
            key = parse_public_key(public)
        except (ValueError, KeyError, TypeError, binascii.Error, SigningKeyError):
            findings.append(
                AuditFinding("bad_signature", event.seq, f"event {event.seq} is unreadable")
            )
            continue
        try:
            key.verify(signature, signed_message(case_id, seq, hash_))
        except InvalidSignature:
            findings.append(
                AuditFinding(
                    "bad_signature",
                    event.seq,
                    f"the signature in event {event.seq} does not match what it says it signs",
                )
            )
            continue
        signed = by_seq.get(seq)
        if signed is None or signed.hash != hash_:
            findings.append(
                AuditFinding(
                    "signed_event_changed",
                    seq,
                    f"event {event.seq} signed event {seq} with hash {hash_[:16]}..., which the "
                    "log no longer has: the log was rewritten after it was signed",
                )
            )
            continue
        valid.append(Signature(event.seq, seq, public))
    wanted = {k.strip() for k in trusted}
    if wanted and not any(s.public_key in wanted for s in valid):
        findings.append(
            AuditFinding(
                "not_signed",
                None,
                "no valid signature by the given public key(s) in the log",
            )
        )
    return findings, valid


__all__ = [
    "ACTION",
    "Signature",
    "SigningKeyError",
    "check_signatures",
    "generate",
    "load_private",
    "parse_public_key",
    "public_key_text",
    "sign_payload",
    "signed_message",
]
