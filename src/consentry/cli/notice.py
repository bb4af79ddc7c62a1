"""``consentry notice list|sent``: the takedown notices of a case and their 48-hour deadlines.

Notices are written by ``consentry report --format notice``; their state is read from the case's
audit log (``notice_created`` / ``notice_sent`` events), so it is as tamper-evident as the log.
Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.table import Table

from consentry.cli.common import (
    CASE_OPTION,
    DB_OPTION,
    EXIT_MISUSE,
    OutputConsole,
    fail,
    failed,
    plain,
    print_json,
    shown,
)
from consentry.services.case import CaseRef, ServiceError
from consentry.services.notices import mark_notice_sent, notice_states

out = OutputConsole()


@click.group("notice", short_help="Takedown notices: when each was sent, when removal is due.")
def notice_group() -> None:
    """Takedown notices (US TAKE IT DOWN Act): when each was sent, when removal is due.

    \b
    Examples:
      consentry report --case ./case-17 --format notice --person E1 \\
          --url https://example.com/p/123 --out ./notices
      consentry notice sent --case ./case-17 N3F2A91C0          # sent now
      consentry notice list --case ./case-17                    # pending | sent | overdue

    A platform must remove the content within 48 hours of receiving a valid request; the
    deadline runs from the time the notice is marked sent.
    """


@notice_group.command(
    "list",
    short_help="The case's takedown notices: status and removal deadline.",
    epilog="""\b
Examples:
  consentry notice list --case ./case-17
  consentry notice list --case ./case-17 --json | jq '.notices[] | select(.status=="overdue")'
  consentry notice list --case ./case-17 --as-of 2026-06-05T17:00    # which will be overdue

\b
JSON: notices [{notice_id, platform, person, created, sent, deadline, status, items,
notice_sha256, file}], as_of. status: pending (not sent yet), sent (removal due by deadline),
overdue (deadline passed; check whether the content was removed).""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--as-of", "as_of", default=None, help="Status at this time (ISO 8601) instead of now."
)
def notice_list(case_dir: Path, db_url: str | None, as_json: bool, as_of: str | None) -> None:
    """List the case's takedown notices with their status and removal deadline."""
    now = _time(as_of, "--as-of") if as_of else datetime.now(UTC).astimezone()
    try:
        states = notice_states(CaseRef(case_dir, db_url), now)
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, {"as_of": now.isoformat(), "notices": [asdict(s) for s in states]})
        return
    if not states:
        out.print(
            "no takedown notices in this case (write them with `consentry report "
            "--format notice --person ID`)"
        )
        return
    zone = now.strftime("%Z%z")
    table = Table(show_header=True, header_style="bold", title=f"times: {zone}")
    # id, person and status are never cut; platform and times wrap on narrow terminals
    table.add_column("id", no_wrap=True, min_width=9)
    table.add_column("platform", overflow="fold")
    table.add_column("person", no_wrap=True, min_width=6)
    for col in ("created", "sent", "deadline"):
        table.add_column(col, overflow="fold")
    table.add_column("status", no_wrap=True, min_width=7)
    for s in states:
        style = {"overdue": "bold red", "pending": "yellow"}.get(s.status, "")
        table.add_row(
            shown(s.notice_id),
            shown(s.platform),
            shown(s.person),
            _short(s.created, now)[:10],
            _short(s.sent, now),
            _short(s.deadline, now),
            f"[{style}]{s.status}[/]" if style else s.status,
        )
    out.print(table)


@notice_group.command(
    "sent",
    epilog="""\b
Examples:
  consentry notice sent --case ./case-17 N3F2A91C0
  consentry notice sent --case ./case-17 N3F2A91C0 --at 2026-06-01T09:30:00+02:00

A time without an offset is read as this machine's local time.""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--at", "at_text", default=None, help="When it was sent (ISO 8601); default: now.")
@click.option("--examiner", default=None, help="Who sent it (recorded in the audit log).")
@click.argument("notice_id")
def notice_sent(
    case_dir: Path, db_url: str | None, at_text: str | None, examiner: str | None, notice_id: str
) -> None:
    """Mark NOTICE_ID as sent: the 48-hour removal deadline starts."""
    at = _time(at_text, "--at") if at_text else datetime.now(UTC)
    try:
        sent = mark_notice_sent(CaseRef(case_dir, db_url), notice_id, at, examiner)
    except ServiceError as exc:
        failed(exc)
    click.echo(
        f"{plain(sent.notice_id)} sent {sent.sent_at.isoformat(timespec='seconds')}; "
        f"removal due by {sent.deadline.isoformat(timespec='minutes')}"
    )


def _time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(EXIT_MISUSE, f"{option} {text!r} is not an ISO 8601 time (e.g. 2026-06-01T09:30)")
    return moment if moment.tzinfo else moment.astimezone()  # naive: this machine's clock


def _short(value: str | None, zone: datetime | None = None) -> str:
    """A time on the clock of ``zone`` (default: this machine), to the minute."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value)
    moment = moment.astimezone(zone.tzinfo) if zone else moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M")


__all__ = ["notice_group"]
