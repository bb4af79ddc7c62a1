"""``consentry requests list|add|update|show|policy``: victims' requests and the measures taken,
with the deadline of each next step by the case's policy (``CASE_DIR/policy.yaml``, else the
shipped default) and the takedown notices' 48-hour clocks beside them.

The command line acts as the examiner (``Account.local``): whoever runs it holds the case folder.
Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from consentry.cli.common import (
    CASE_OPTION,
    DB_OPTION,
    EXAMINER_OPTION,
    OutputConsole,
    failed,
    plain,
    print_json,
    shown,
)
from consentry.services.access import Account
from consentry.services.case import CaseRef, ServiceError, handle
from consentry.services.requests import (
    RequestKind,
    RequestStatus,
    RequestView,
    create_request,
    list_requests,
    load_policy,
    parse_time,
    request_detail,
    update_request,
    write_default_policy,
)

out = OutputConsole()

KINDS = ", ".join(k.value for k in RequestKind)
STATUSES = ", ".join(s.value for s in RequestStatus)


@click.group("requests", short_help="Victims' requests and measures: status and deadlines.")
def requests_group() -> None:
    """Victims' requests and the measures taken: who asked, who owns it, when it is due.

    \b
    Examples:
      consentry requests add --case ./case-17 --person E1 --kind interim_measure \\
          --asked-by "Victim (E1)" --asked-at 2026-11-20T09:00 --owner "Case manager"
      consentry requests list --case ./case-17 --overdue
      consentry requests update --case ./case-17 R0001 --status acknowledged --owner Registry
      consentry requests show --case ./case-17 R0001
      consentry requests policy --case ./case-17 --write-default   # then edit policy.yaml

    A request goes requested -> acknowledged -> (offered ->) implemented, or declined with a
    reason. Deadlines are working days counted from the request, by the case's policy.
    """


def _ref(case_dir: Path, db_url: str | None) -> CaseRef:
    return CaseRef(case_dir, db_url)


@requests_group.command(
    "list",
    short_help="Requests and takedown notices, overdue first.",
    epilog="""\b
Examples:
  consentry requests list --case ./case-17
  consentry requests list --case ./case-17 --overdue --person E1
  consentry requests list --case ./case-17 --json | jq '.requests[] | select(.overdue)'
  consentry requests list --case ./case-17 --as-of 2026-12-01T09:00   # what will be overdue

\b
JSON: requests [{code, source (request | notice), person, person_name, kind, kind_title,
asked_by, asked_at, owner, status, status_at, due_at, overdue, next_step, detail,
decline_reason}], as_of. Times are UTC.""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--overdue", "overdue_only", is_flag=True, help="Only the overdue ones.")
@click.option("--person", default=None, help="Only this person's (a code such as E1).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--as-of", "as_of", default=None, help="Overdue at this time (ISO 8601), not now.")
def requests_list(
    case_dir: Path,
    db_url: str | None,
    overdue_only: bool,
    person: str | None,
    as_json: bool,
    as_of: str | None,
) -> None:
    """List the case's requests and takedown notices, overdue first."""
    try:
        with handle(_ref(case_dir, db_url)) as h:
            now = parse_time(as_of, "--as-of", h) if as_of else datetime.now(UTC)
            views = list_requests(h, Account.local(None), overdue_only, person, now)
            zone = load_policy(h).timezone
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, {"as_of": now.isoformat(timespec="seconds"), "requests": list(views)})
        return
    if not views:
        what = "overdue requests" if overdue_only else "requests"
        click.echo(f"no {what} in this case (record one with `consentry requests add`)")
        return
    table = Table(show_header=True, header_style="bold", title=f"due times: {zone}")
    table.add_column("code", no_wrap=True, min_width=5)
    table.add_column("person", no_wrap=True)
    table.add_column("kind", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("owner", overflow="fold")
    table.add_column("due", no_wrap=True)
    table.add_column("", no_wrap=True)
    for v in views:
        table.add_row(
            shown(v.code),
            shown(v.person or "-"),
            shown(v.kind_title),
            shown(v.status),
            shown(v.owner or "-"),
            _local(v.due_at, zone),
            "[bold red]OVERDUE[/]" if v.overdue else "",
        )
    out.print(table)


@requests_group.command(
    "add",
    short_help="Record a request from or for a person.",
    epilog=f"""\b
Examples:
  consentry requests add --case ./case-17 --person E1 --kind interim_measure \\
      --asked-by "Victim (E1)"
  consentry requests add --case ./case-17 --person E1 --kind disciplinary_review \\
      --asked-by "Advocate for E1" --asked-at 2026-11-20T09:00 --owner "Case manager" \\
      --detail "review of the sharing student's conduct"

\b
Kinds: {KINDS}.
A time without an offset is read in the policy's time zone.""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--person", default=None, help="Whose request (a code such as E1).")
@click.option("--kind", required=True, help="What is asked for (see the kinds below).")
@click.option("--asked-by", "asked_by", required=True, help="Who asked, e.g. 'Victim (E1)'.")
@click.option("--asked-at", "asked_at", default=None, help="When (ISO 8601); default: now.")
@click.option("--owner", default=None, help="Who is responsible for it.")
@click.option("--detail", default=None, help="What exactly was asked.")
@EXAMINER_OPTION
def requests_add(
    case_dir: Path,
    db_url: str | None,
    person: str | None,
    kind: str,
    asked_by: str,
    asked_at: str | None,
    owner: str | None,
    detail: str | None,
    examiner: str | None,
) -> None:
    """Record a request from or for a person; prints its code and when its first step is due."""
    try:
        with handle(_ref(case_dir, db_url)) as h:
            view = create_request(
                h, Account.local(examiner), person, kind, asked_by, asked_at, owner, detail
            )
    except ServiceError as exc:
        failed(exc)
    click.echo(_line(view))


@requests_group.command(
    "update",
    epilog=f"""\b
Examples:
  consentry requests update --case ./case-17 R0001 --status acknowledged --owner Registry
  consentry requests update --case ./case-17 R0001 --status implemented \\
      --at 2026-11-25T14:00 --note "timetable changed"
  consentry requests update --case ./case-17 R0002 --status declined \\
      --reason "no tutors share a module with the student"

\b
Statuses: {STATUSES}.
requested -> acknowledged -> offered -> implemented (offered may be skipped); declined needs
--reason; implemented and declined are final.""",
)
@CASE_OPTION
@DB_OPTION
@click.argument("code")
@click.option("--status", default=None, help="The new status.")
@click.option("--owner", default=None, help="A new owner.")
@click.option("--note", default=None, help="A note for the request's timeline.")
@click.option("--reason", default=None, help="Why it was declined (with --status declined).")
@click.option("--at", "at_text", default=None, help="When it happened (ISO 8601); default: now.")
@EXAMINER_OPTION
def requests_update(
    case_dir: Path,
    db_url: str | None,
    code: str,
    status: str | None,
    owner: str | None,
    note: str | None,
    reason: str | None,
    at_text: str | None,
    examiner: str | None,
) -> None:
    """Move request CODE on: a new status, owner or note."""
    try:
        with handle(_ref(case_dir, db_url)) as h:
            at = parse_time(at_text, "--at", h) if at_text else None
            view = update_request(
                h, Account.local(examiner), code, status, owner, note, reason, now=at
            )
    except ServiceError as exc:
        failed(exc)
    click.echo(_line(view))


@requests_group.command(
    "show",
    epilog="""\b
Examples:
  consentry requests show --case ./case-17 R0001
  consentry requests show --case ./case-17 R0001 --json""",
)
@CASE_OPTION
@DB_OPTION
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def requests_show(case_dir: Path, db_url: str | None, code: str, as_json: bool) -> None:
    """Show request CODE and its timeline."""
    try:
        with handle(_ref(case_dir, db_url)) as h:
            detail = request_detail(h, Account.local(None), code)
            zone = load_policy(h).timezone
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, detail)
        return
    v = detail.view
    click.echo(f"{plain(v.code)}  {plain(v.kind_title)}  person {plain(v.person or '-')}")
    click.echo(f"asked by {plain(v.asked_by)} at {_local(v.asked_at, zone)}")
    click.echo(f"status {v.status}; owner {plain(v.owner or '-')}")
    if v.next_step:
        click.echo(f"next: {plain(v.next_step)}{'  OVERDUE' if v.overdue else ''}")
    if v.decline_reason:
        click.echo(f"declined: {plain(v.decline_reason)}")
    if v.detail:
        click.echo(f"detail: {plain(v.detail)}")
    table = Table(show_header=True, header_style="bold", title="timeline")
    for col in ("when", "who", "status", "owner", "due", "note"):
        table.add_column(col, overflow="fold")
    for e in detail.events:
        table.add_row(
            _local(e.at, zone),
            shown(e.actor),
            shown(e.status),
            shown(e.owner or "-"),
            _local(e.due_at, zone),
            shown(e.note or ""),
        )
    out.print(table)


@requests_group.command(
    "policy",
    epilog="""\b
Examples:
  consentry requests policy --case ./case-17
  consentry requests policy --case ./case-17 --write-default   # writes CASE/policy.yaml

The case's policy.yaml wins over the shipped default; its deadlines are working days counted
from the request.""",
)
@CASE_OPTION
@click.option(
    "--write-default", "write_default", is_flag=True, help="Copy the default into the case."
)
def requests_policy(case_dir: Path, write_default: bool) -> None:
    """Print the policy in force and where it comes from."""
    try:
        if write_default:
            path = write_default_policy(case_dir)
            click.echo(f"wrote {plain(path)}; edit it: it wins over the default")
            return
        policy = load_policy(case_dir)
    except ServiceError as exc:
        failed(exc)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    click.echo(f"policy: {plain(policy.source)}")
    click.echo(f"working days: {', '.join(days[d] for d in policy.working_days)}")
    holidays = ", ".join(d.isoformat() for d in policy.holidays) or "none"
    click.echo(f"holidays: {holidays}")
    click.echo(f"a day ends at {policy.day_ends:%H:%M} {policy.timezone}")
    click.echo("deadlines (working days from the request):")
    for kind, steps in policy.deadlines:
        words = ", ".join(f"{step} {n}" for step, n in steps) or "none"
        click.echo(f"  {kind}: {words}")


def _local(iso: str | None, zone: str) -> str:
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    return f"{moment:%Y-%m-%d %H:%M}"


def _line(v: RequestView) -> str:
    step = f"; next: {v.next_step}" if v.next_step else ""
    late = " (OVERDUE)" if v.overdue else ""
    return plain(f"{v.code} {v.kind} for {v.person or 'the case'}: {v.status}{step}{late}")
