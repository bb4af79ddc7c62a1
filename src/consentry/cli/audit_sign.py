"""``consentry audit keygen`` and ``consentry audit sign``: examiner signatures on the audit log
(see ``audit_sign``). ``audit verify --public-key`` checks them. Thin: parse, call, print."""

from __future__ import annotations

from pathlib import Path

import click

from consentry.cli.common import EXIT_CASE, EXIT_MISUSE, EXIT_TAMPERED, fail
from consentry.store.audit import read_head, verify_chain
from consentry.store.audit_sign import (
    ACTION,
    SigningKeyError,
    check_signatures,
    generate,
    load_private,
    sign_payload,
)
from consentry.store.case import HEAD_FILE, CaseError, open_case


@click.command(
    "keygen",
    epilog="""\b
Examples:
  consentry audit keygen --out ~/keys/examiner.key   # prints ed25519:... (the public key)

Keep the private key outside every case folder; give the printed public key to whoever will
check the case (with the report, by e-mail): `audit verify --public-key` needs it.""",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="New private key file (written mode 0600; never over an existing file).",
)
def audit_keygen(out_path: Path) -> None:
    """Make an examiner signing key (Ed25519); print its public key."""
    try:
        click.echo(generate(out_path))
    except SigningKeyError as exc:
        fail(EXIT_MISUSE, str(exc))


@click.command(
    "sign",
    epilog="""\b
Examples:
  consentry audit sign --case ./case-17 --key ~/keys/examiner.key --examiner "J. Doe"
  consentry audit verify --case ./case-17 --public-key ed25519:...

Appends an audit_signed event: the examiner's signature over the case id and the newest
event's number and hash, which covers every event before it through the chain. Refused
(exit 4) when the log does not verify now.""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None)
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Private key from `consentry audit keygen`.",
)
@click.option("--examiner", default=None, help="Who signs (recorded in the audit log).")
def audit_sign(case_dir: Path, db_url: str | None, key_path: Path, examiner: str | None) -> None:
    """Sign the audit log as it is now with the examiner's key."""
    try:
        key = load_private(key_path)
    except SigningKeyError as exc:
        fail(EXIT_MISUSE, str(exc))
    try:
        case = open_case(case_dir, db_url)
    except CaseError as exc:
        fail(EXIT_CASE, str(exc))
    with case:
        events = case.store.audit_events()
        findings = verify_chain(events, read_head(case.path / HEAD_FILE), (), case.case_id)
        findings += check_signatures(events, case.case_id)[0]
        if findings:
            for f in findings:
                click.echo(f"TAMPERED ({f.kind}) {f.message}", err=True)
            fail(EXIT_TAMPERED, "the audit log does not verify: not signed")
        payload = sign_payload(key, case.case_id, events[-1])
        seq = case.store.append_audit(ACTION, examiner, payload)
    click.echo(
        f"events 1-{payload['signed_seq']} signed by {payload['public_key']} (audit event {seq})"
    )


__all__ = ["audit_keygen", "audit_sign"]
