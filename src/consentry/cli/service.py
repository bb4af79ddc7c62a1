"""``consentry service ...``: the matching service a platform runs (hash banks, HMA-compatible
HTTP API, victims' sealed packs). Thin: parse, call ``consentry.services.matching``, print.

``consentry service`` alone starts the HTTP server (uvicorn, loopback by default); its
subcommands work on the same service home and database without a server: API keys, banks,
imports and exports, the index's state and the audit log. A running server sees what they
change within seconds (each worker replays the database's ``signal_changes``).

The service home (``--home``, default ``./consentry-service``) holds the secrets (the face
template key and the pack key pair) and, unless ``--db`` names another database, the SQLite
database ``service.sqlite``. ``CONSENTRY_SERVICE_HOME`` and ``CONSENTRY_SERVICE_DB`` set the
same two things (what uvicorn's worker processes read with ``--workers`` above 1).

Exit status as for every consentry command: 0 done, 2 misuse (a bad option, an unknown bank,
a refused value), 3 the service home or its database is unusable, 4 ``audit verify`` found
tampering. Errors are one line: ``error: CODE: reason``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from consentry.cli.common import (
    EXIT_CASE,
    EXIT_MISUSE,
    EXIT_TAMPERED,
    OutputConsole,
    fail,
    plain,
    print_json,
)
from consentry.cli.serve import is_loopback
from consentry.services.matching.types import (
    Caller,
    MatchErrorCode,
    MatchServiceError,
    ServiceRole,
)

if TYPE_CHECKING:
    from consentry.services.matching.service import MatchingService

out = OutputConsole()

DEFAULT_HOME = Path("consentry-service")
HOME_ENV = "CONSENTRY_SERVICE_HOME"
DB_ENV = "CONSENTRY_SERVICE_DB"
# uvicorn's import string for --workers > 1: each worker process builds its own app (and its
# own index) from the two variables above
APP_FACTORY = "consentry.matchapi.app:app_from_env"
FORMATS = ("auto", "hashpack", "pytx", "csv")
EXPORT_FORMATS = ("pytx", "csv")

F = TypeVar("F", bound=Callable[..., object])


def home_option(func: F) -> F:
    return click.option(
        "--home",
        "home",
        default=None,
        type=click.Path(file_okay=False, path_type=Path),
        envvar=HOME_ENV,
        help=f"Service home: secrets and the SQLite database [default: ./{DEFAULT_HOME}].",
    )(func)


def db_option(func: F) -> F:
    return click.option(
        "--db",
        "db_url",
        default=None,
        envvar=DB_ENV,
        help="Database URL if not SQLite in the home (postgresql+psycopg://...).",
    )(func)


def service_failed(exc: MatchServiceError) -> NoReturn:
    """``fail`` for what the service refused: its stable code and its one-line reason (exit 3
    when the service itself cannot be used: a database that does not answer, a home that
    cannot be written)."""
    code = EXIT_CASE if exc.code is MatchErrorCode.SERVICE_UNUSABLE else EXIT_MISUSE
    fail(code, f"{exc.code.value}: {exc.message}")


def _where(home: Path | None, db_url: str | None) -> tuple[Path, str | None]:
    """The home and database of this command: its own options, else the group's."""
    parent = click.get_current_context().find_object(_Where)
    if parent is not None:
        home = home if home is not None else parent.home
        db_url = db_url if db_url is not None else parent.db_url
    return (home if home is not None else DEFAULT_HOME), db_url


@dataclass(frozen=True)
class _Where:
    """The group's ``--home`` / ``--db``, for subcommands given them before their name."""

    home: Path | None
    db_url: str | None


def _open(
    home: Path, db_url: str | None, *, start_sync: bool, build_index: bool
) -> MatchingService:
    from consentry.services.matching.service import open_service

    try:
        return open_service(home, db_url, start_sync=start_sync, build_index=build_index)
    except MatchServiceError as exc:
        service_failed(exc)


@contextmanager
def opened(home: Path | None, db_url: str | None) -> Iterator[MatchingService]:
    """The service for one command: no sync thread (the command reads and writes once) and no
    index built unless the command looks something up (at 10M hashes a build is ~20 s and
    1.6 GB, which `key add` must not pay); a refusal becomes a one-line error."""
    where_home, where_db = _where(home, db_url)
    svc = _open(where_home, where_db, start_sync=False, build_index=False)
    try:
        yield svc
    except MatchServiceError as exc:
        service_failed(exc)
    finally:
        svc.close()


OPERATOR = Caller.local("operator")


@click.group(
    "service",
    invoke_without_command=True,
    short_help="Run the matching service for platforms (hash banks, HMA API).",
    epilog="""\b
Examples:
  consentry service key add --role admin ops      # prints an API token once
  consentry service bank add VICTIM_REPORTS
  consentry service import VICTIM_REPORTS ./pack-E1   # a case's hash pack
  consentry service                               # http://127.0.0.1:8100
  consentry service --workers 4 --db postgresql+psycopg://svc@db/consentry
  curl -H "Authorization: Bearer $TOKEN" \\
      "http://127.0.0.1:8100/m/lookup?signal_type=pdq&signal=$PDQ"

Listens on loopback only unless --allow-remote (put a TLS reverse proxy in front).
Every lookup, insert, export and withdrawal is written to a hash-chained audit log.
See docs/service.md.""",
)
@home_option
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="uvicorn worker processes; each keeps its own index in step with the database.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on an address other than loopback (serve it through a TLS reverse proxy).",
)
@click.pass_context
def service_group(
    ctx: click.Context,
    home: Path | None,
    db_url: str | None,
    host: str,
    port: int,
    workers: int,
    allow_remote: bool,
) -> None:
    """The matching service a platform runs: hash banks (PDQ, MD5, SHA-256), an HTTP API that
    HMA 1.x clients use unchanged, consentry's /v1 API (batch lookups, hash-pack imports,
    upload screening, victims' sealed packs, consent withdrawal), API keys and an audit log.

    Without a subcommand: start the HTTP server on HOST:PORT.
    """
    ctx.obj = _Where(home, db_url)
    if ctx.invoked_subcommand is not None:
        return
    run_server(home or DEFAULT_HOME, db_url, host, port, workers, allow_remote)


def run_server(
    home: Path, db_url: str | None, host: str, port: int, workers: int, allow_remote: bool
) -> None:
    """Start uvicorn on the matchapi app: one process holding the service, or ``workers``
    processes that each open it from the environment (uvicorn needs an import string then)."""
    if not is_loopback(host) and not allow_remote:
        fail(
            EXIT_MISUSE,
            f"remote_host: {host} is not a loopback address: add --allow-remote to listen there, "
            "behind a TLS reverse proxy",
        )
    import uvicorn

    shown_host = f"[{host}]" if ":" in host else host
    banner = (
        f"consentry matching service: http://{shown_host}:{port}/ "
        "(OpenAPI document: /openapi.json; Ctrl+C to stop)"
    )
    if workers == 1:
        svc = _open(home, db_url, start_sync=True, build_index=True)
        try:
            # the one place the CLI shell starts the HTTP shell (sibling layers; allowed by name
            # in the layers contract's ignore_imports, pyproject.toml)
            from consentry.matchapi.app import create_app

            app = create_app(svc)
            click.echo(banner)
            uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False)
        finally:
            svc.close()
        return
    # open it once here so the home's secrets and the database's tables exist before the
    # workers race to create them; each worker then opens its own
    _open(home, db_url, start_sync=False, build_index=False).close()
    # resolve the factory as each worker will, so a broken install fails here, once
    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        import_from_string(APP_FACTORY)
    except ImportFromStringError as exc:
        fail(EXIT_CASE, f"service_unusable: {exc}")

    os.environ[HOME_ENV] = str(home.resolve())
    if db_url is not None:
        os.environ[DB_ENV] = db_url
    else:
        os.environ.pop(DB_ENV, None)
    click.echo(f"{banner}, {workers} workers")
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


# --- keys ------------------------------------------------------------------------------------


@service_group.group(
    "key",
    short_help="Add, list or disable API keys.",
    epilog="""\b
Examples:
  consentry service key add --role matcher trust-and-safety
  consentry service key add --role curator --rate 0 bank-loader
  consentry service key list
  consentry service key disable 3

Roles: matcher (lookups and hashing), curator (banks and their content), advocate (submits
and withdraws packs for its own persons only), admin (everything, keys included).""",
)
def key_group() -> None:
    """API keys: bearer tokens (argon2-hashed in the database), one role each."""


@key_group.command(
    "add",
    short_help="Add an API key; prints its token once.",
    epilog="""\b
Examples:
  consentry service key add --role matcher moderation-pipeline
  consentry service key add --role advocate --rate 60 helpline
  consentry service key add --role admin --home /srv/consentry ops

The token is printed only now: only its argon2 hash is stored. Send it as
`Authorization: Bearer TOKEN`.""",
)
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in ServiceRole]),
    help="What the key may do.",
)
@click.option(
    "--rate",
    default=600,
    show_default=True,
    type=click.IntRange(0),
    help="Requests per minute for this key, per worker (0: no limit).",
)
@click.option(
    "--max-body",
    default=10_000_000,
    show_default=True,
    type=click.IntRange(1),
    help="Largest request body in bytes for this key.",
)
@home_option
@db_option
@click.argument("name")
def key_add(
    role: str, rate: int, max_body: int, home: Path | None, db_url: str | None, name: str
) -> None:
    """Add the API key NAME (who holds it: a team, a pipeline) with ROLE."""
    with opened(home, db_url) as svc:
        new = svc.add_key(
            OPERATOR, ServiceRole(role), name, rate_per_minute=rate, max_body_bytes=max_body
        )
    info = new.info
    limit = "no rate limit" if info.rate_per_minute == 0 else f"{info.rate_per_minute}/min"
    click.echo(f"added key {info.id} {plain(info.name)}: {info.role.value}, {limit}")
    click.echo(f"token: {new.token}")
    click.echo(
        "it is shown only now and not stored anywhere (only its hash is): keep it in a secret "
        "store; `consentry service key disable` ends it",
        err=True,
    )


@key_group.command(
    "list",
    short_help="List the API keys (never their tokens).",
    epilog="""\b
Examples:
  consentry service key list
  consentry service key list --json""",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
def key_list(as_json: bool, home: Path | None, db_url: str | None) -> None:
    """List the service's API keys: id, token prefix, role, name, limits, state."""
    with opened(home, db_url) as svc:
        keys = svc.list_keys(OPERATOR)
    if as_json:
        print_json(out, keys)
        return
    if not keys:
        click.echo("no keys yet: add one with consentry service key add")
    for k in keys:
        state = f"disabled {k.disabled_at}" if k.disabled_at else "enabled"
        rate = "no limit" if k.rate_per_minute == 0 else f"{k.rate_per_minute}/min"
        click.echo(
            f"{k.id}  cs_{plain(k.prefix)}_…  {k.role.value}  {plain(k.name)}  {rate}  "
            f"max {k.max_body_bytes} B  {state}"
        )


@key_group.command(
    "disable",
    short_help="Disable an API key now.",
    epilog="""\b
Examples:
  consentry service key list
  consentry service key disable 3""",
)
@home_option
@db_option
@click.argument("key_id", metavar="ID", type=int)
def key_disable(home: Path | None, db_url: str | None, key_id: int) -> None:
    """Disable the API key ID (from `key list`): its token is refused from now on."""
    with opened(home, db_url) as svc:
        svc.disable_key(OPERATOR, key_id)
    click.echo(f"disabled key {key_id}")


# --- the pack key ----------------------------------------------------------------------------


@service_group.command(
    "pack-key",
    short_help="Print the public key victims seal their packs to.",
    epilog="""\b
Examples:
  consentry service pack-key
  consentry service pack-key > bank.pub
  consentry pack me.jpg --to bank.pub --consent consent.json --out my.pack

Publish it (it is public); the secret half stays in the service home and is what opens a
pack posted to /v1/packs.""",
)
@home_option
@db_option
def pack_key(home: Path | None, db_url: str | None) -> None:
    """Print the service's pack public key (base64): what `consentry pack --to` takes."""
    with opened(home, db_url) as svc:
        click.echo(svc.pack_public_key())


# --- banks, import, export -------------------------------------------------------------------


@service_group.group(
    "bank",
    short_help="Add, list or delete hash banks.",
    epilog="""\b
Examples:
  consentry service bank add VICTIM_REPORTS
  consentry service bank list
  consentry service bank delete OLD_BANK""",
)
def bank_group() -> None:
    """Hash banks: named sets of PDQ, MD5 and SHA-256 hashes lookups match against."""


@bank_group.command(
    "add",
    short_help="Add a bank.",
    epilog="""\b
Examples:
  consentry service bank add VICTIM_REPORTS
  consentry service bank add --disabled STAGING

Names follow HMA's rule: letters, digits and _ (upper-cased), at most 128.""",
)
@click.option("--disabled", is_flag=True, help="Create it with matching off.")
@home_option
@db_option
@click.argument("name")
def bank_add(disabled: bool, home: Path | None, db_url: str | None, name: str) -> None:
    """Add the bank NAME."""
    with opened(home, db_url) as svc:
        bank = svc.create_bank(OPERATOR, name, enabled=not disabled)
    click.echo(f"added bank {plain(bank.name)}{' (matching off)' if not bank.enabled else ''}")


@bank_group.command(
    "list",
    short_help="List the banks and their sizes.",
    epilog="""\b
Examples:
  consentry service bank list
  consentry service bank list --json""",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
def bank_list(as_json: bool, home: Path | None, db_url: str | None) -> None:
    """List the banks: name, kind, content items, whether matching is on."""
    with opened(home, db_url) as svc:
        banks = svc.list_banks(OPERATOR)
    if as_json:
        print_json(out, banks)
        return
    if not banks:
        click.echo("no banks yet: add one with consentry service bank add")
    for b in banks:
        state = "matching" if b.enabled else "matching off"
        click.echo(f"{plain(b.name)}  {b.kind}  {b.content_count} items  {state}")


@bank_group.command(
    "delete",
    short_help="Delete a bank and everything in it.",
    epilog="""\b
Examples:
  consentry service bank delete OLD_BANK --yes""",
)
@click.option("--yes", is_flag=True, help="Do it without asking.")
@home_option
@db_option
@click.argument("name")
def bank_delete(yes: bool, home: Path | None, db_url: str | None, name: str) -> None:
    """Delete the bank NAME, its content and its hashes (audited)."""
    if not yes:
        click.confirm(f"delete bank {name} and all its hashes?", abort=True)
    with opened(home, db_url) as svc:
        svc.delete_bank(OPERATOR, name)
    click.echo(f"deleted bank {plain(name.upper())}")


def read_import(path: Path) -> bytes:
    """The bytes to import from ``path``: a file as it is, or a hash-pack folder (what
    ``consentry report --format hashpack`` writes) as the zip the service's ``hashpack``
    reader takes (which checks every file against the pack's manifest)."""
    if path.is_dir():
        from consentry.services.matching.formats import hashpack_bytes

        return hashpack_bytes(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(EXIT_MISUSE, f"bad_request: cannot read {path}: {exc.strerror or exc}")


@service_group.command(
    "import",
    short_help="Import hashes into a bank (hash pack, pytx list, CSV).",
    epilog="""\b
Examples:
  consentry report --case ./case-17 --format hashpack --person E1 \\
      --out ./pack-E1
  consentry service import VICTIM_REPORTS ./pack-E1
  consentry service import VICTIM_REPORTS hashes.txt --format pytx
  consentry service import VICTIM_REPORTS rows.csv --format csv --create

FILE: a hash-pack folder or zip, a `pdq <hex>` list, or a CSV
(signal_type,value[,quality,note] or a hash pack's hashes.csv). Bad lines are skipped and
listed; nothing invalid is stored.""",
)
@click.option(
    "--format",
    "fmt",
    default="auto",
    show_default=True,
    type=click.Choice(FORMATS),
    help="What FILE is (auto: sniffed).",
)
@click.option("--create", is_flag=True, help="Create the bank first if it does not exist.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
@click.argument("bank")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def import_cmd(
    fmt: str,
    create: bool,
    as_json: bool,
    home: Path | None,
    db_url: str | None,
    bank: str,
    file: Path,
) -> None:
    """Import the hashes in FILE into BANK."""
    data = read_import(file)
    if file.is_dir() and fmt == "auto":
        fmt = "hashpack"
    with opened(home, db_url) as svc:
        if create and bank.upper() not in {b.name for b in svc.list_banks(OPERATOR)}:
            svc.create_bank(OPERATOR, bank)
        result = svc.import_hashes(OPERATOR, bank, data, fmt)
    if as_json:
        print_json(out, result)
        return
    click.echo(
        f"imported into {plain(result.bank)}: {result.added} items, {result.signals} hashes"
        f"{f', {len(result.skipped)} lines skipped' if result.skipped else ''}"
    )
    for line in result.skipped:
        click.echo(f"skipped: {plain(line)}", err=True)


@service_group.command(
    "export",
    short_help="Export a bank's hashes (pytx list or CSV).",
    epilog="""\b
Examples:
  consentry service export VICTIM_REPORTS --format pytx --out bank.txt
  consentry service export VICTIM_REPORTS --format csv --out bank.csv""",
)
@click.option("--format", "fmt", required=True, type=click.Choice(EXPORT_FORMATS))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace an existing file.")
@home_option
@db_option
@click.argument("bank")
def export_cmd(
    fmt: str, out_path: Path, force: bool, home: Path | None, db_url: str | None, bank: str
) -> None:
    """Write BANK's hashes to a file (audited: who exported which bank, when)."""
    if out_path.exists() and not force:
        fail(EXIT_MISUSE, f"file_exists: {out_path} exists: add --force to replace it")
    with opened(home, db_url) as svc:
        data = svc.export_bank(OPERATOR, bank, fmt)
    out_path.write_bytes(data)
    lines = data.count(b"\n") - (1 if fmt == "csv" and data else 0)
    click.echo(f"exported {plain(bank.upper())}: {lines} hashes to {plain(out_path)}")


# --- persons (consent) -----------------------------------------------------------------------


@service_group.group(
    "person",
    short_help="List consented persons or withdraw one's consent.",
    epilog="""\b
Examples:
  consentry service person list
  consentry service person withdraw 12 --yes""",
)
def person_group() -> None:
    """Persons who consented (through a sealed pack or an advocate): their labels, how many
    face templates and hash items each has, and consent withdrawal."""


@person_group.command(
    "list",
    short_help="List the consented persons.",
    epilog="""\b
Examples:
  consentry service person list
  consentry service person list --json""",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
def person_list(as_json: bool, home: Path | None, db_url: str | None) -> None:
    """List the persons: id, label (never a name), templates, hash items, who submitted."""
    with opened(home, db_url) as svc:
        persons = svc.list_persons(OPERATOR)
    if as_json:
        print_json(out, persons)
        return
    if not persons:
        click.echo("no persons: they come with sealed packs (POST /v1/packs) or from advocates")
    for p in persons:
        owner = f"key {p.owner_key_id}" if p.owner_key_id is not None else "operator"
        click.echo(
            f"{p.id}  {plain(p.label)}  {p.templates} templates  {p.contents} items  "
            f"by {owner}  since {p.created_at}"
        )


@person_group.command(
    "withdraw",
    short_help="Consent withdrawn: delete a person's templates and hashes.",
    epilog="""\b
Examples:
  consentry service person withdraw 12 --yes

Deletes the person's face templates and every hash item that came with them, in every
bank; running servers stop matching them within seconds. The audit log keeps that it
happened (counts only).""",
)
@click.option("--yes", is_flag=True, help="Do it without asking.")
@home_option
@db_option
@click.argument("person_id", metavar="ID", type=int)
def person_withdraw(yes: bool, home: Path | None, db_url: str | None, person_id: int) -> None:
    """Withdraw person ID's consent (from `person list`)."""
    if not yes:
        click.confirm(f"delete person {person_id}'s templates and hashes everywhere?", abort=True)
    with opened(home, db_url) as svc:
        done = svc.withdraw_person(OPERATOR, person_id)
    click.echo(
        f"withdrew person {done.person_id}: {done.templates_deleted} templates, "
        f"{done.contents_deleted} items, {done.signals_deleted} hashes deleted"
    )


# --- status and audit ------------------------------------------------------------------------


@service_group.command(
    "status",
    short_help="The index's sizes and the banks.",
    epilog="""\b
Examples:
  consentry service status
  consentry service status --db postgresql+psycopg://svc@db.internal/consentry --json""",
)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
def status_cmd(as_json: bool, home: Path | None, db_url: str | None) -> None:
    """What the service holds: per signal type the hashes searchable, the database position
    applied, memory and corrupt rows skipped; per bank its size."""
    with opened(home, db_url) as svc:
        svc.refresh_index()
        indexes = svc.index_status()
        banks = svc.list_banks(OPERATOR)
    if as_json:
        print_json(out, {"indexes": indexes, "banks": banks})
        return
    for ix in indexes:
        skipped = f", {ix.skipped} corrupt rows skipped" if ix.skipped else ""
        click.echo(
            f"{ix.signal_type.value}: {ix.size} hashes, {ix.memory_bytes / 1e6:.1f} MB, "
            f"at change {ix.last_seq} (built {ix.built_at}){skipped}"
        )
    total = sum(b.content_count for b in banks)
    click.echo(f"{len(banks)} banks, {total} items")
    for b in banks:
        click.echo(f"  {plain(b.name)}  {b.kind}  {b.content_count} items")


@service_group.group(
    "audit",
    short_help="Check or show the service's audit log.",
    epilog="""\b
Examples:
  consentry service audit verify
  consentry service audit show --limit 20""",
)
def audit_group() -> None:
    """The service's hash-chained audit log: every lookup, insert, export and withdrawal."""


@audit_group.command(
    "verify",
    short_help="Check the audit log's hash chain.",
    epilog="""\b
Examples:
  consentry service audit verify && echo intact

Exit status 4 when an entry was changed, removed or inserted.""",
)
@home_option
@db_option
def audit_verify(home: Path | None, db_url: str | None) -> None:
    """Recompute the audit log's hash chain and say whether it is intact."""
    with opened(home, db_url) as svc:
        ok, message = svc.verify_audit()
    if not ok:
        fail(EXIT_TAMPERED, f"tampered: {message}")
    click.echo(plain(message))


@audit_group.command(
    "show",
    short_help="Show the latest audit entries.",
    epilog="""\b
Examples:
  consentry service audit show
  consentry service audit show --limit 500 --json""",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@home_option
@db_option
def audit_show(limit: int, as_json: bool, home: Path | None, db_url: str | None) -> None:
    """Show the latest LIMIT audit entries, oldest first: when, who, what."""
    with opened(home, db_url) as svc:
        entries = svc.audit_log(OPERATOR, limit=limit)
    if as_json:
        print_json(out, entries)
        return
    for e in sorted(entries, key=lambda e: e.seq):
        details = ", ".join(f"{k}={v}" for k, v in sorted(e.payload.items()))
        click.echo(f"{e.seq}  {e.at}  {plain(e.actor)}  {e.action}  {plain(details)}")
