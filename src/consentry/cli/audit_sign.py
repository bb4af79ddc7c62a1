"""``consentry audit keygen`` and ``consentry audit sign``: examiner signatures on the audit log
(see ``store.audit_sign``). ``audit verify --public-key`` checks them. Thin: parse, call, print."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from consentry.cli.common import failed, plain
from consentry.services.audit import AuditTampered, new_signing_key, sign_audit
from consentry.services.case import CaseRef, ServiceError


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
        click.echo(new_signing_key(out_path))
    except ServiceError as exc:
        failed(exc)


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
        signed = sign_audit(CaseRef(case_dir, db_url), key_path, examiner)
    except AuditTampered as exc:
        tampered(exc)
    except ServiceError as exc:
        failed(exc)
    click.echo(
        f"events 1-{signed.signed_seq} signed by {signed.public_key} (audit event "
        f"{signed.event_seq})"
    )


def tampered(exc: AuditTampered) -> NoReturn:
    """Refuse because the log does not verify: each finding on its own line, then the error
    (exit 4). Used by ``audit sign`` and ``audit anchor``."""
    for f in exc.findings:
        click.echo(f"TAMPERED ({f.kind}) {plain(f.message)}", err=True)
    failed(exc)


__all__ = ["audit_keygen", "audit_sign", "tampered"]
