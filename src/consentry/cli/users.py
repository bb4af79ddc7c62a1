"""``consentry user ...``: the web app's accounts. Thin: parse, call, print.

Exit status as for every consentry command: 0 done, 2 misuse (bad name, role, person or
password), 3 the case folder is unusable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from consentry.cli.common import (
    CASE_OPTION,
    DB_OPTION,
    EXAMINER_OPTION,
    OutputConsole,
    failed,
    plain,
    print_json,
)
from consentry.services.access import ROLE_TITLES, Role
from consentry.services.accounts import add_user, disable_user, list_users
from consentry.services.case import CaseRef, ServiceError

out = OutputConsole()


@click.group("user", short_help="Add, list or disable the web app's accounts.")
def user_group() -> None:
    """Accounts of the web app (`consentry serve`) for one case.

    \b
    Examples:
      consentry user add --case ./case-17 --role examiner alex
      consentry user add --case ./case-17 --role advocate --person E1 sam
      consentry user list --case ./case-17
      consentry user disable --case ./case-17 sam

    Roles: examiner (everything, reveal with a reason), case_manager (requests, notices,
    counts), advocate (only the persons given with --person), reviewer (reads, blurred).
    """


@user_group.command(
    "add",
    short_help="Add an account; prints a one-time password.",
    epilog="""\b
Examples:
  consentry user add --case ./case-17 --role case_manager robin
  consentry user add --case ./case-17 --role advocate --person E1 --person U3 sam
  printf '%s\\n' "$PASSWORD" | consentry user add --case ./case-17 --role reviewer \\
      --password-stdin kim

\b
Without --password-stdin a one-time password is generated and printed once: it is shown only
then and never stored (only its argon2id hash is). A given password has at least 10
characters.""",
)
@CASE_OPTION
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="What the account may do.",
)
@click.option(
    "--person",
    "persons",
    multiple=True,
    help="An advocate's person code (E1, U3...); repeat for several. Advocates only.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of standard input."
)
@EXAMINER_OPTION
@DB_OPTION
@click.argument("name")
def user_add(
    case_dir: Path,
    role: str,
    persons: tuple[str, ...],
    password_stdin: bool,
    examiner: str | None,
    db_url: str | None,
    name: str,
) -> None:
    """Add the account NAME to the case."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        new = add_user(CaseRef(case_dir, db_url), name, Role(role), password, persons, examiner)
    except ServiceError as exc:
        failed(exc)
    scope = f" for {', '.join(new.account.scope)}" if new.account.scope else ""
    click.echo(f"added {plain(new.account.name)}: {ROLE_TITLES[new.account.role]}{scope}")
    if new.password is not None:
        click.echo(f"one-time password: {new.password}")
        click.echo("it is shown only now: give it to the person; it is not stored anywhere")


@user_group.command(
    "list",
    short_help="List the enabled accounts.",
    epilog="""\b
Examples:
  consentry user list --case ./case-17
  consentry user list --case ./case-17 --json""",
)
@CASE_OPTION
@click.option("--json", "as_json", is_flag=True, help="JSON instead of lines.")
@DB_OPTION
def user_list(case_dir: Path, as_json: bool, db_url: str | None) -> None:
    """List the case's enabled accounts: name, role and (advocates) persons."""
    try:
        accounts = list_users(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(
            out,
            [{"name": a.name, "role": a.role.value, "scope": list(a.scope)} for a in accounts],
        )
        return
    if not accounts:
        click.echo("no accounts yet: add one with consentry user add")
    for a in accounts:
        scope = f"  {', '.join(a.scope)}" if a.scope else ""
        click.echo(f"{plain(a.name)}  {a.role.value}{scope}")


@user_group.command(
    "disable",
    short_help="Disable an account and end its sessions.",
    epilog="""\b
Examples:
  consentry user disable --case ./case-17 sam""",
)
@CASE_OPTION
@EXAMINER_OPTION
@DB_OPTION
@click.argument("name")
def user_disable(case_dir: Path, examiner: str | None, db_url: str | None, name: str) -> None:
    """Disable the account NAME: it can no longer log in, its sessions end now."""
    try:
        disable_user(CaseRef(case_dir, db_url), name, examiner)
    except ServiceError as exc:
        failed(exc)
    click.echo(f"disabled {plain(name)}")
