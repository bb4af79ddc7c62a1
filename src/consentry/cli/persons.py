"""``consentry person ...`` and ``consentry persons``: enrollment with consent, erasure, manual
merge/split of unidentified persons, and the persons report. Thin: parse, call, print.

Exit status as for every consentry command: 0 done, 2 misuse (bad option, refused photo or
consent record, wrong template key), 3 the case folder is unusable.
"""

from __future__ import annotations

from dataclasses import asdict, astuple
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.table import Table

from consentry.cli.common import (
    CASE_OPTION,
    DB_OPTION,
    EXAMINER_OPTION,
    EXIT_MISUSE,
    OutputConsole,
    SourcePaths,
    fail,
    failed,
    fits,
    indented,
    json_text,
    plain,
    print_json,
    shown,
)
from consentry.services.case import CaseRef, ServiceError
from consentry.services.persons import (
    EnrollRequest,
    PhotosRefused,
    RemoveRequest,
    enroll_person,
    list_persons,
    merge_persons,
    new_template_key,
    persons_report,
    refresh_persons,
    remove_person,
    show_person,
    split_person,
)
from consentry.services.summary import case_sources

if TYPE_CHECKING:
    from consentry.persons.findings import PersonsReport, PersonSummary

out = OutputConsole()


@click.group("person", short_help="Enroll (with consent), show, merge, split or erase persons.")
def person_group() -> None:
    """Enrolled persons (with consent) and unidentified persons of a case.

    \b
    Examples:
      consentry person add --case ./case-17 --name "Jane Doe" --consent jane.json ref1.jpg
      consentry persons --case ./case-17
      consentry person remove E1 --case ./case-17 --yes     # consent withdrawn: erase

    Templates (face embeddings) are encrypted with the key in $CONSENTRY_KEY or, when that is
    not set, CASE_DIR/keys/templates.key (created on first use, mode 0600).
    """


@person_group.command(
    "add",
    short_help="Enroll a person who consented, from reference photos.",
    epilog="""\b
Examples:
  consentry person add --case ./case-17 --name "Jane Doe" --consent jane.json a.jpg b.jpg
  consentry person add --case ./case-17 --name "Jane Doe" --consent jane.yaml group.jpg --face 2

\b
The consent file (JSON, or YAML named .yaml/.yml) needs:
  consented_by  who gave consent          consented_at  ISO date, e.g. 2026-03-02
  scope         what may be searched      recorded_by   who recorded the consent
optional: method, on_behalf_of, reference, expires_at, notes.
The record must be the person's own: on_behalf_of (a guardian consenting for them) or, without
it, consented_by must be --name (case, accents, punctuation and word order aside).

Only templates, the photos' SHA-256/MD5/PDQ and the consent record are stored; the photos
themselves never enter the case. A photo without a usable face, or with several faces and no
--face, is refused and nothing is stored.""",
)
@CASE_OPTION
@click.option("--name", required=True, help="The person's name, as the case refers to them.")
@click.option(
    "--consent",
    "consent_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Consent record (JSON or YAML).",
)
@click.option(
    "--face",
    "faces",
    type=click.IntRange(1),
    multiple=True,
    help="Which face (1 = first in reading order) when a photo shows several; once for all "
    "photos, or once per photo in order.",
)
@EXAMINER_OPTION
@DB_OPTION
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
def person_add(
    case_dir: Path,
    name: str,
    consent_file: Path,
    faces: tuple[int, ...],
    examiner: str | None,
    db_url: str | None,
    photos: tuple[Path, ...],
) -> None:
    """Enroll a person who consented, from reference PHOTOS (not evidence images)."""
    request = EnrollRequest(CaseRef(case_dir, db_url), name, consent_file, photos, faces, examiner)
    try:
        enrolled = enroll_person(request)
    except PhotosRefused as exc:
        for line in exc.reasons[:-1]:
            click.echo(f"error: {plain(line)}", err=True)
        failed(exc)
    except ServiceError as exc:
        failed(exc)
    code = enrolled.code
    table = Table(
        title=f"{code} {shown(enrolled.name)}: {len(enrolled.references)} template(s)",
        header_style="bold",
    )
    table.add_column("photo", overflow="fold")  # a path: folded only on a narrow terminal
    for col in ("face", "size px", "detector", "sharpness", "frontal", "faces in photo"):
        table.add_column(col, no_wrap=True)
    for r in enrolled.references:
        q = r.quality
        table.add_row(
            shown(r.photo),
            str(r.face_index + 1),
            f"{q.size_px:.0f}",
            f"{q.detector_score:.2f}",
            "-" if q.sharpness is None else f"{q.sharpness:.0f}",
            f"{q.frontalness:.2f}",
            str(q.faces_in_photo),
        )
    out.print(table)
    mine = enrolled.summary
    if mine is not None:
        out.print(
            f"{code}: match in {mine.images} image(s), possible in {mine.possible_images}"
            + ("" if enrolled.case_has_faces else " (no faces in the case yet)")
        )
    if enrolled.references_in_evidence:
        click.echo(
            f"warning: {len(enrolled.references_in_evidence)} reference photo(s) are also "
            "evidence files of this case (same SHA-256; recorded in the audit log): those images "
            "match by construction",
            err=True,
        )
    if enrolled.key_file is not None:
        from consentry.persons.template_crypto import ENV_VAR

        out.print(
            f"templates encrypted with {shown(enrolled.key_file)}; set {ENV_VAR} to keep "
            "the key outside the case folder"
        )


@person_group.command(
    "list",
    short_help="Enrolled persons: consent, templates, images matched.",
    epilog="""\b
Examples:
  consentry person list --case ./case-17
  consentry person list --case ./case-17 --json""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def person_list(case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """Enrolled persons (consent, templates, images matched) and how many are unidentified."""
    try:
        listing = list_persons(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(
            out,
            {
                "enrolled": [asdict(p) for p in listing.enrolled],
                "unidentified": list(listing.unidentified),
            },
        )
        return
    table = Table(header_style="bold")
    for col in ("id", "name", "templates", "consent", "consented by", "at", "images", "possible"):
        table.add_column(col)
    for p in listing.enrolled:
        table.add_row(*(shown(value) for value in astuple(p)))
    out.print(table)
    out.print(f"{len(listing.unidentified)} unidentified person(s): see `consentry persons`")


@person_group.command(
    "show",
    short_help="One person: consent, templates, images, folders.",
    epilog="""\b
Examples:
  consentry person show E1 --case ./case-17
  consentry person show U3 --case ./case-17 --json""",
)
@click.argument("person_id")
@CASE_OPTION
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def person_show(person_id: str, case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """One person: consent and template quality (enrolled), images, folders, evidence."""
    try:
        data = show_person(CaseRef(case_dir, db_url), person_id).as_dict()
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, data)
        return
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json_text(value)
        out.print(f"[bold]{key}[/]: {shown(value, lines=True)}", highlight=False)


@person_group.command(
    "remove",
    short_help="Erase an enrolled person (consent withdrawn).",
    epilog="""\b
Examples:
  consentry person remove E2 --case ./case-17 --yes --reason "consent withdrawn"

Deletes the person's templates, every match derived from them and the person's record, and
what identifies them in the evidence: the faces matched to them (match or possible) lose their
embedding, their group and their crop in CASE_DIR/faces (the face row stays, flagged erased:
the image still shows a face, counted as unattributed). The audit log keeps an event saying
that this happened (who, when, how many of each), never what was removed. SQLite pages freed
by the deletion are overwritten and the write-ahead log is truncated.

\b
A later scan does not bring the erased faces back: crops or embeddings written again for the
same images are removed at the end of the scan (audit event erasure_kept). Images of the person
scanned later are not recognised (that needs the erased template): their faces are treated
like any unknown face. Thumbnails of whole images stay (blurred unless labelled none).""",
)
@click.argument("person_id")
@CASE_OPTION
@DB_OPTION
@EXAMINER_OPTION
@click.option("--reason", default=None, help="Why (recorded), e.g. 'consent withdrawn'.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def person_remove(
    person_id: str,
    case_dir: Path,
    db_url: str | None,
    examiner: str | None,
    reason: str | None,
    yes: bool,
) -> None:
    """Erase an enrolled person: templates, matches and record (consent withdrawn, mistake)."""

    def confirm(code: str, name: str | None) -> None:
        click.confirm(f"Erase {code} ({name}): templates and matches?", abort=True)

    request = RemoveRequest(CaseRef(case_dir, db_url), person_id, examiner, reason)
    try:
        erased = remove_person(request, confirm=None if yes else confirm)
    except ServiceError as exc:
        failed(exc)
    out.print(
        f"{erased.code} erased: {erased.templates} template(s) and {erased.matches} match(es) "
        f"deleted; {erased.face_embeddings} face embedding(s) and {erased.face_crops_deleted} "
        "face crop(s) of the matched faces removed",
        highlight=False,
        soft_wrap=True,
    )
    for line in erased.face_crops_not_deleted:
        click.echo(
            f"warning: face crop not deleted: {line} (delete it by hand; every later scan or "
            "`person refresh` tries again)",
            err=True,
        )
    if not erased.wal_truncated:
        click.echo(
            "warning: another process is reading the case, so the write-ahead log still holds "
            "old pages; run `consentry person refresh` when it has finished",
            err=True,
        )


@person_group.command(
    "merge",
    short_help="Put one unidentified person's faces into another.",
    epilog="""\b
Examples:
  consentry person merge U7 U3 --case ./case-17 --examiner "A. Examiner"   # U7 joins U3

Only unidentified persons can be merged: enrolled persons are matched by their templates.
The number of the merged person (U7) is retired, never reused.""",
)
@click.argument("source")
@click.argument("target")
@CASE_OPTION
@DB_OPTION
@EXAMINER_OPTION
def person_merge(
    source: str, target: str, case_dir: Path, db_url: str | None, examiner: str | None
) -> None:
    """Put every face of unidentified person SOURCE into TARGET (one person, by hand)."""
    try:
        merged = merge_persons(CaseRef(case_dir, db_url), source, target, examiner)
    except ServiceError as exc:
        failed(exc)
    out.print(f"{merged.source} merged into {merged.target}: {merged.faces} face(s) moved")


@person_group.command(
    "split",
    short_help="Move some images' faces to a new unidentified person.",
    epilog="""\b
Examples:
  consentry person split U3 --case ./case-17 --image /mnt/seized/x/IMG_0042.jpg
  consentry person split U3 --case ./case-17 --image 9f2c1a   # SHA-256 prefix

The chosen images' faces of U3 become a new unidentified person (next free number).""",
)
@click.argument("person_id")
@CASE_OPTION
@DB_OPTION
@EXAMINER_OPTION
@click.option(
    "--image",
    "images",
    multiple=True,
    required=True,
    help="An image of the person (path as the scan recorded it, or SHA-256 prefix).",
)
def person_split(
    person_id: str,
    case_dir: Path,
    db_url: str | None,
    examiner: str | None,
    images: tuple[str, ...],
) -> None:
    """Move the faces of PERSON_ID in the given images to a new unidentified person."""
    try:
        split = split_person(CaseRef(case_dir, db_url), person_id, images, examiner)
    except ServiceError as exc:
        failed(exc)
    out.print(f"{split.faces} face(s) of {split.source} are now {split.new}")


@person_group.command(
    "refresh",
    short_help="Match and cluster again now.",
    epilog="""\b
Examples:
  CONSENTRY_KEY=... consentry person refresh --case ./case-17""",
)
@CASE_OPTION
@DB_OPTION
@EXAMINER_OPTION
def person_refresh(case_dir: Path, db_url: str | None, examiner: str | None) -> None:
    """Match and cluster again now (scans and enrollments do this by themselves)."""
    try:
        outcome = refresh_persons(CaseRef(case_dir, db_url), examiner)
    except ServiceError as exc:
        failed(exc)
    if outcome is None:
        out.print("no faces and no enrolled persons: nothing to do")
        return
    out.print(
        f"{outcome.faces} faces: {outcome.matched_faces} match, {outcome.possible_faces} "
        f"possible against {outcome.persons_used} enrolled person(s); "
        f"{len(outcome.new_unidentified)} new unidentified person(s), "
        f"{outcome.joined_existing} face(s) joined existing ones"
    )
    if outcome.matches_skipped:
        fail(EXIT_MISUSE, f"matching skipped: {outcome.matches_skipped}")


@person_group.command(
    "keygen",
    short_help="Print a new template key for $CONSENTRY_KEY.",
    epilog="""\b
Examples:
  export CONSENTRY_KEY=$(consentry person keygen)   # before the first `person add`""",
)
def person_keygen() -> None:
    """Print a new template key for $CONSENTRY_KEY (keep it outside the case folder)."""
    click.echo(new_template_key())


@click.command(
    "persons",
    short_help="Every person depicted, with the count and its bounds.",
    epilog="""\b
Examples:
  consentry persons --case ./case-17
  consentry persons --case ./case-17 --json | jq .count

\b
JSON: persons [{id, kind (enrolled|unidentified), name, images, explicit_images, folders,
items, similarity, weak, evidence, ...}], count {estimate, lower_bound, upper_bound, ...,
definitions}, folders, inconsistencies, method (thresholds).""",
)
@CASE_OPTION
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def persons_cmd(case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """Every person depicted in the case: enrolled (matched by consented templates) and
    unidentified (groups of faces), with image counts, folders, and the count with its bounds."""
    ref = CaseRef(case_dir, db_url)
    try:
        report = persons_report(ref)
        paths = SourcePaths(() if as_json else case_sources(ref))
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, {"case": str(case_dir.absolute()), **report.as_dict()})
        return
    _print_report(report, paths)


FOLDERS_SHOWN = 3  # folders listed in a person's row; `person show` lists them all


def _print_count(report: PersonsReport, paths: SourcePaths) -> None:
    """The count with its bounds, each bound's distance from the estimate explained, then
    the persons flagged for review (why they widen the bounds)."""
    c = report.count
    out.print(
        f"[bold]persons depicted: {c.estimate}[/] (at least {c.lower_bound}, at most "
        f"{c.upper_bound})",
        highlight=False,
    )
    several = [f"{s.id} counted as {s.counted_as}" for s in report.persons if s.counted_as > 1]
    out.print(
        indented(
            f"estimate {c.estimate}: {c.enrolled_matched} enrolled person(s) matched + "
            f"{c.unidentified_strong} unidentified seen in 2+ images + {c.unidentified_weak} "
            "seen in one image only" + (f" ({', '.join(several)})" if several else ""),
            2,
        )
    )
    for bound, total, than in (("lower", c.lower_bound, "fewer"), ("upper", c.upper_bound, "more")):
        lines = [w for w in c.widened if w.bound == bound]
        if not lines:
            continue
        gap = abs(total - c.estimate)
        out.print(indented(f"{bound} bound {total} ({gap} {than} than the estimate):", 2))
        for w in lines:
            out.print(indented(shown(paths.in_text(w.text)), 4))
    if c.lower_bound == c.upper_bound:
        out.print(indented("the bounds are equal: nothing in the count is uncertain", 2))
    out.print(
        indented(
            f"{c.unidentified_likely_enrolled} group(s) likely an enrolled person; "
            f"{c.unattributed_faces} face(s) in {c.images_with_unattributed_faces} image(s) "
            "too poor to attribute",
            2,
        )
    )
    if report.review:
        out.print("[bold]For review[/] (why these persons widen the bounds)")
        for flag in report.review:
            message = shown(paths.in_text(flag.message))
            out.print(indented(f"{shown(flag.person)} {flag.reason}: {message}", 2))


def _counted(s: PersonSummary) -> str:
    """How many persons the row counts for in the estimate, when not one."""
    if s.counted_as == 1:
        return ""
    if s.counted_as == 0:
        return (
            f" (likely {s.likely_enrolled}: not counted again)"
            if s.likely_enrolled
            else " (not counted)"
        )
    return f" (counts as {s.counted_as})"


def _row(s: PersonSummary, paths: SourcePaths) -> tuple[str, ...]:
    """One person's cells (Rich markup, evidence-derived text escaped)."""
    sim = f"{s.similarity['min']:.2f}-{s.similarity['max']:.2f}" if s.similarity else "-"
    images = str(s.images)
    if s.unique_images != s.images:  # copies of one picture count once per location
        images += f" ({s.unique_images} distinct)"
    if s.possible_images:
        images += f", +{s.possible_images} possible"
    folders = [f"{shown(paths.below(f['folder']))} ({f['images']})" for f in s.folders]
    if len(folders) > FOLDERS_SHOWN:
        more = len(folders) - FOLDERS_SHOWN
        folders = [*folders[:FOLDERS_SHOWN], f"and {more} more (`person show {s.id}`)"]
    return (
        s.id,
        s.kind + _counted(s),
        shown(s.name or ""),
        images,
        str(s.explicit_images),
        "\n".join(folders) or "-",
        sim,
        ("[yellow]weak[/]: " if s.weak else "") + shown(s.evidence),
        f"[yellow]{len(s.review)} flag(s)[/]" if s.review else "",
    )


def _print_report(report: PersonsReport, paths: SourcePaths) -> None:
    if paths.header:
        out.print(shown(paths.header), highlight=False)
    rows = [_row(s, paths) for s in report.persons]
    table = Table(title="Persons", header_style="bold")
    # short values never wrap; names, folders (one per line) and evidence wrap on a terminal,
    # a path folded only when it is wider than its column; a pipe or a file folds nothing
    for col in ("id", "kind"):
        table.add_column(col, no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("images", overflow="fold")
    table.add_column("explicit", no_wrap=True, justify="right")
    table.add_column("folders (images)", overflow="fold")
    table.add_column("similarity", no_wrap=True)
    table.add_column("evidence", overflow="fold")
    table.add_column("review", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    if fits(out, table):
        out.print(table)
    else:  # a terminal too narrow for the table: one block per person, nothing cut
        out.print("[bold]Persons[/]")
        for id_, kind, name, images, explicit, folders, sim, evidence, review in rows:
            out.print(
                f"[bold]{id_}[/] {kind}" + (f" {name}" if name else "") + f"; images {images}; "
                f"explicit {explicit}; similarity {sim}",
                highlight=False,
            )
            out.print(indented(f"folders: {folders.replace(chr(10), ', ')}", 4))
            out.print(indented(f"evidence: {evidence}", 4))
            if review:
                out.print(indented(f"review: {review}", 4))
    _print_count(report, paths)
    if report.inconsistencies:
        out.print("[bold]Folders[/]")
        for issue in report.inconsistencies:
            out.print(indented(f"{issue.kind}: {shown(paths.in_text(issue.message))}", 2))
    if not report.up_to_date:
        out.print(
            "[bold red]not up to date[/]: run `consentry person refresh` (with the template key)"
        )


__all__ = ["person_group", "persons_cmd"]
