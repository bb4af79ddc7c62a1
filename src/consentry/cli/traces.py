"""``consentry traces``: traces of creation in a case's browser profiles: visits to AI undress /
nudify / face-swap services, downloads whose files are in the case, and each person's
timeline. Thin: parse, call ``services.traces``, print.

Exit status as for every consentry command: 0 done, 2 misuse, 3 the case folder is unusable.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from consentry.cli.common import (
    DB_OPTION,
    EXAMINER_OPTION,
    OutputConsole,
    failed,
    fits,
    indented,
    print_json,
    shown,
)
from consentry.services.case import CaseRef, ServiceError

if TYPE_CHECKING:
    from consentry.services.traces import TimelineView, TracesResult, TraceView

out = OutputConsole()

SERVICES_OPTION = click.option(
    "--services",
    "services_file",
    default=None,
    type=click.Path(path_type=str, dir_okay=False, exists=True),
    metavar="FILE.yaml",
    help="A services list to use instead of the shipped one (same format: "
    "`consentry traces services --write-default FILE`).",
)


@click.group(
    "traces",
    invoke_without_command=True,
    short_help="Traces of creation: AI undress / face-swap service visits and downloads.",
    epilog="""\b
Examples:
  consentry traces --case ./case-17                  # read the browser profiles, list traces
  consentry traces --case ./case-17 --services my-services.yaml --json > traces.json
  consentry traces --case ./case-17 --local-offset +02:00    # the machine's clock, if known
  consentry traces list --case ./case-17 --services-only
  consentry traces timeline --case ./case-17 --person E1
  consentry traces services                          # the shipped list, with sources
  consentry traces services --write-default my-services.yaml

\b
The scan runs this pass too (`consentry scan SRC --case DIR --services FILE`).
Browser profiles are found among the case's files: Chrome / Edge / Brave 'History',
Firefox 'places.sqlite', Safari 'History.db' and 'Downloads.plist', with their '-wal'
files. They are read from a private copy, never opened in place. Kept: visits and
downloads whose host (or, for a download, the page it came from) is a listed service's
domain or a subdomain of it, and downloads whose file is in the case (by hash, by path,
or by name and size). Other history rows are not stored. Times are UTC; the machine's
time zone is not in these files: local time only at an offset you give (--local-offset).

\b
JSON: case, services {source, path, sha256}, time_note, traces [{id, kind, browser,
profile, at_utc, local_offset_min, at_local, url, host, title, service_id, service_name,
download_path, download_bytes, matched_path, matched_sha256, match_reason, database,
source_row, source_sha256, source_paths}] (source_*: the photo a derivation link says the
downloaded file was made from),
unreadable_databases [{path, message}].""",
)
@click.option("--case", "case_dir", type=click.Path(path_type=Path), help="Case folder.")
@DB_OPTION
@SERVICES_OPTION
@EXAMINER_OPTION
@click.option(
    "--local-offset",
    default=None,
    metavar="+HH:MM",
    help="The examined machine's UTC offset, where you have established it (e.g. from its "
    "time-zone settings): traces then show local time too. One fixed offset (no daylight "
    "saving); kept with the case and recorded in the audit log; 'none' forgets it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the traces as JSON.")
@click.pass_context
def traces_group(
    ctx: click.Context,
    case_dir: Path | None,
    db_url: str | None,
    services_file: str | None,
    examiner: str | None,
    local_offset: str | None,
    as_json: bool,
) -> None:
    """Find traces of creation in a case's browser profiles and list them."""
    if ctx.invoked_subcommand is not None:
        if case_dir is not None or services_file or as_json or local_offset:
            raise click.UsageError(
                f"put the options after the subcommand: consentry traces "
                f"{ctx.invoked_subcommand} --case DIR ..."
            )
        return
    if case_dir is None:
        raise click.UsageError("Missing option '--case' (or name a subcommand: list, timeline, "
                               "services).")  # fmt: skip
    from consentry.services.traces import TracesRequest, update_traces

    try:
        result = update_traces(
            TracesRequest(CaseRef(case_dir, db_url), services_file, examiner, local_offset)
        )
    except ServiceError as exc:
        failed(exc)
    _show(result, as_json)


@traces_group.command(
    "list",
    short_help="The stored traces (no pass run).",
    epilog="""\b
Examples:
  consentry traces list --case ./case-17
  consentry traces list --case ./case-17 --services-only --json""",
)
@click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
@DB_OPTION
@click.option("--services-only", is_flag=True, help="Only traces naming a listed service.")
@click.option("--json", "as_json", is_flag=True, help="Print the traces as JSON.")
def list_cmd(case_dir: Path, db_url: str | None, services_only: bool, as_json: bool) -> None:
    """List the traces the last pass stored."""
    from consentry.services.traces import list_traces

    try:
        result = list_traces(CaseRef(case_dir, db_url), services_only)
    except ServiceError as exc:
        failed(exc)
    _show(result, as_json)


@traces_group.command(
    "timeline",
    short_help="Each person's timeline of creation.",
    epilog="""\b
Examples:
  consentry traces timeline --case ./case-17
  consentry traces timeline --case ./case-17 --person E1 --json

\b
Steps: source_taken / source_saved (the source photo's EXIF and file times), service_visited,
fake_downloaded / file_downloaded, made_with_service, derived_from, fake_saved,
moved_to_person_folder. 'observed' steps are facts read from the evidence; 'inferred' ones are
conclusions, with their basis. Browser traces appear only when joined to the person's files.""",
)
@click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
@DB_OPTION
@click.option("--person", default=None, metavar="CODE", help="One person (E1, U3).")
@click.option("--json", "as_json", is_flag=True, help="Print the timelines as JSON.")
def timeline_cmd(case_dir: Path, db_url: str | None, person: str | None, as_json: bool) -> None:
    """Show each person's timeline of creation."""
    from consentry.services.traces import timelines

    try:
        views = timelines(CaseRef(case_dir, db_url), person)
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, {"timelines": [v.as_dict() for v in views]})
        return
    _print_timelines(views)


@traces_group.command(
    "services",
    short_help="Show or write the services list.",
    epilog="""\b
Examples:
  consentry traces services
  consentry traces services --services my-services.yaml      # check an edited list
  consentry traces services --write-default my-services.yaml

\b
Matching is by registrable domain, subdomains included. Each entry is sourced and dated; the
file's header says how to add entries.""",
)
@SERVICES_OPTION
@click.option(
    "--write-default",
    "write_to",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE.yaml",
    help="Write the shipped list to FILE (to edit, then pass with --services).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def services_cmd(
    services_file: str | None, write_to: Path | None, force: bool, as_json: bool
) -> None:
    """Show the services list traces are matched against."""
    from consentry.services.traces import services_view, write_default_services

    try:
        if write_to is not None:
            if services_file:
                raise click.UsageError("--write-default writes the shipped list; drop --services")
            written = write_default_services(write_to, force)
            out.print(f"wrote the shipped services list to {shown(written)}", highlight=False)
            return
        view = services_view(services_file)
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, view.as_dict())
        return
    out.print(
        f"{len(view.services)} service(s), {view.origin} list {shown(view.path)} "
        f"(SHA-256 {view.sha256})",
        highlight=False,
    )
    for s in view.services:
        out.print(
            f"[bold]{shown(s.id)}[/] {shown(s.name)} - {s.category} - "
            f"{shown(', '.join(s.domains))} (added {s.added})",
            highlight=False,
        )
        out.print(indented(f"source: {shown(s.source)}", 4))
        if s.note:
            out.print(indented(f"note: {shown(s.note)}", 4))


COLUMNS = ("time (UTC)", "local", "browser", "kind", "service", "host / URL", "file",
           "in the case")  # fmt: skip


def _show(result: TracesResult, as_json: bool) -> None:
    if as_json:
        print_json(out, result.as_dict())
        return
    traces = result.traces
    if not traces:
        out.print("no traces: no listed service in the browser histories, no download found in "
                  "the case")  # fmt: skip
    else:
        rows = [_row(t) for t in traces]
        table = Table(show_header=True, header_style="bold")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row)
        if fits(out, table):
            out.print(table)
        else:
            for when, local, browser, kind, service, url, file, matched in rows:
                out.print(f"[bold]{when}[/] ({local}) {browser} {kind} {service}",
                          highlight=False)  # fmt: skip
                out.print(indented(url, 4))
                if file:
                    out.print(indented(f"file {file}; in the case: {matched}", 4))
    services = sum(1 for t in traces if t.service_id)
    in_case = sum(1 for t in traces if t.matched_path)
    out.print(
        f"{len(traces)} trace(s): {services} naming a listed service, {in_case} download(s) "
        f"found in the case; services list: {result.services.source_label()}",
        highlight=False,
    )
    offsets = {t.local_offset_min for t in traces}
    if offsets == {None} or not traces:
        out.print("times are UTC as the browsers store them; the machine's time zone is not "
                  "in these files, so no local time is given (--local-offset sets one you have "
                  "established)", highlight=False)  # fmt: skip
    else:
        out.print("times are UTC as the browsers store them; local: at the UTC offset the "
                  "examiner gave (--local-offset; daylight saving not applied)",
                  highlight=False)  # fmt: skip
    for path, message in result.unreadable:
        out.print(f"[yellow]unreadable[/] {shown(path)}: {shown(message)}", highlight=False)


def _row(t: TraceView) -> tuple[str, ...]:
    matched = "-"
    if t.matched_path:
        matched = f"{shown(t.matched_path)} (by {t.match_reason})"
        if t.source_paths:
            matched += f"; made from {shown(t.source_paths[0])}"
    return (
        t.at_utc or "(no time)",
        t.at_local or "-",
        t.browser,
        t.kind,
        shown(t.service_name) if t.service_name else "-",
        shown(t.url if t.kind == "download" else f"{t.host}: {t.url}"),
        shown(t.download_path) if t.download_path else "",
        matched,
    )


def _print_timelines(views: list[TimelineView]) -> None:
    if not views:
        out.print("no timelines: no person in this case has files yet")
        return
    for view in views:
        out.print(f"[bold]{shown(view.code)}[/]: {len(view.events)} step(s)", highlight=False)
        if not view.events:
            out.print(indented("nothing joins this person's files to a browser trace or a "
                               "derivation link", 4))  # fmt: skip
        for e in view.events:
            kind = "observed" if e.observed else "[italic]inferred[/]"
            out.print(
                indented(f"{e.at_utc or '(no time)'}  {kind}  {e.step}: {shown(e.what)}", 2),
            )
            if e.basis:
                out.print(indented(f"basis: {shown(e.basis)}", 6))


__all__ = ["traces_group"]
