"""``consentry report``: write a case's evidence report in one format. Thin: parse, call
``services.reports.write_report``, print what was written.

Exit status as for every consentry command: 0 written, 2 misuse (unknown person, format not
available, an output path inside a source of the case or onto an existing file without
``--force``), 3 the case folder is unusable.
"""

from __future__ import annotations

from pathlib import Path

import click

from consentry.cli.common import failed, plain
from consentry.services.case import CaseRef, ServiceError
from consentry.services.reports import (
    FORMATS,
    REVERIFY_MODES,
    ReportOptions,
    ReportRequest,
    write_report,
)


@click.command(
    "report",
    epilog="""\b
Examples:
  consentry report --case ./case-17 --format html --out report.html
  consentry report --case ./case-17 --format pdf --out report.pdf --requested-by "DC Smith" \\
      --purpose "images of the persons named in complaint 2026-113"
  consentry report --case ./case-17 --format json --out case-17.json
  consentry report --case ./case-17 --format html --person E2 --redact --out e2.html
  consentry report --case ./case-17 --format hashpack --person E2 --out e2-hashes/
  consentry report --case ./case-17 --format notice --person E2 --url https://x.example/p/1 \\
      --contact-name "J. Doe" --contact-email jd@example.org --signature "J. Doe" --out notices/

\b
Formats: html (one self-contained file, opens offline), pdf (same content, A4, page x of y),
json (everything, schema report.schema.json), csv (one row per file), vics (VICS 2.0 JSON),
case (CASE/UCO JSON-LD), hashpack (PDQ/MD5/SHA-256 of a person's images, no images),
notice (takedown notices).
With --person nothing names anyone else: below each source folder, evidence folder and file
names become neutral identifiers (a file: [file <first 16 hex of its SHA-256>].jpg; a folder
named after the person alone stays) unless --show-paths; audit events about anyone else show
their sequence number and hash only.
Explicit images appear only blurred. Each written file's SHA-256 is recorded in the case's
audit log (report_written) and in FILE.sha256 beside it.
--out is refused inside (or through a link into) any source of the case, and onto an existing
file unless --force (which replaces it; a link is replaced, never written through).""",
)
@click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="Output format.")
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="File (or folder) to write."
)
@click.option("--person", default=None, metavar="ID", help="Only this person's images (E1, U3).")
@click.option("--redact", is_flag=True, help="Replace names with person IDs (paths included).")
@click.option(
    "--show-paths",
    is_flag=True,
    help="With --person: show evidence folder and file names as they are (they may name other "
    "people); by default they are neutral identifiers ([file <sha256>].jpg, [folder N]).",
)
@click.option("--db", "db_url", default=None, help="Store URL if the case does not use SQLite.")
@click.option("--force", is_flag=True, help="Replace files that exist at --out.")
@click.option("--examiner", default=None, help="Who writes the report (audit log).")
@click.option("--requested-by", default=None, help="Who asked for the report.")
@click.option("--purpose", default=None, help="What was asked (shown under Request and scope).")
@click.option(
    "--reverify",
    type=click.Choice(REVERIFY_MODES),
    default="sha256",
    show_default=True,
    help="Re-check the sources: re-hash every file, size+mtime only, or not at all.",
)
@click.option("--url", "urls", multiple=True, help="Where the content was published (notices).")
@click.option("--include-names", is_flag=True, help="Exchange formats: include person names.")
@click.option("--contact-name", default=None, help="Notices: who requests the takedown.")
@click.option("--contact-email", default=None, help="Notices: contact e-mail.")
@click.option("--contact-address", default=None, help="Notices: postal address.")
@click.option("--signature", default=None, help="Notices: electronic signature (typed name).")
def report_cmd(
    case_dir: Path,
    fmt: str,
    out: Path,
    person: str | None,
    redact: bool,
    show_paths: bool,
    db_url: str | None,
    force: bool,
    examiner: str | None,
    requested_by: str | None,
    purpose: str | None,
    reverify: str,
    urls: tuple[str, ...],
    include_names: bool,
    contact_name: str | None,
    contact_email: str | None,
    contact_address: str | None,
    signature: str | None,
) -> None:
    """Write the evidence report of a case (or of one person in it)."""
    options = ReportOptions(
        person=person,
        redact=redact,
        show_paths=show_paths,
        urls=urls,
        include_names=include_names,
        contact_name=contact_name,
        contact_email=contact_email,
        contact_address=contact_address,
        signature=signature,
        examiner=examiner,
        requested_by=requested_by,
        purpose=purpose,
        reverify=reverify,
    )
    try:
        written = write_report(ReportRequest(CaseRef(case_dir, db_url), fmt, out, options, force))
    except ServiceError as exc:
        failed(exc)
    report = written.report
    scope = f"person {report.scope}" if report.scope else "whole case"
    click.echo(
        f"{fmt} report {report.report_id} ({scope}, {len(report.items)} files"
        + (", redacted" if report.redacted else "")
        + f"); audit event {written.audit_seq}"
    )
    for f in written.files:
        click.echo(f"  {plain(f.path)}  sha256 {f.sha256}")
