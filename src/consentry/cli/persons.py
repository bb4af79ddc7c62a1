"""``consentry person ...`` and ``consentry persons``: enrollment with consent, erasure, manual
merge/split of unidentified persons, and the persons report. Thin: parse, call, print.

Exit status as for every consentry command: 0 done, 2 misuse (bad option, refused photo or
consent record, wrong template key), 3 the case folder is unusable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table

from consentry.analyzers.models import ModelUnavailable
from consentry.cli.common import EXIT_CASE, EXIT_MISUSE, fail, plain, read_case, shown
from consentry.persons import enroll, erasure
from consentry.persons.consent import ConsentError, check_names, load_consent
from consentry.persons.findings import PersonsReport, build_report, consent_summary
from consentry.persons.refresh import RefreshOutcome, refresh_identities, template_key
from consentry.persons.template_crypto import ENV_VAR, TemplateKeyError, key_file_path
from consentry.store.case import Case, CaseError, open_case
from consentry.store.persons_store import (
    ENROLLED,
    UNIDENTIFIED,
    NewTemplate,
    PersonRow,
    PersonsStore,
)

out = Console()

CASE_OPTION = click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
DB_OPTION = click.option("--db", "db_url", default=None, help="Store URL if not SQLite.")
EXAMINER_OPTION = click.option(
    "--examiner", default=None, help="Who does this (recorded in the audit log)."
)


def _open(case_dir: Path, db_url: str | None, create: bool = False) -> Case:
    try:
        return open_case(case_dir, db_url, create=create)
    except CaseError as exc:
        fail(EXIT_CASE, str(exc))


def _person(ps: PersonsStore, code: str) -> PersonRow:
    person = ps.person(code)
    if person is None:
        fail(EXIT_MISUSE, f"no person {code.upper()} in this case (see `consentry person list`)")
    return person


def _refresh(case: Case, examiner: str | None, force: bool = False) -> RefreshOutcome | None:
    try:
        return refresh_identities(case.store, case.path, examiner, force=force)
    except TemplateKeyError as exc:
        fail(EXIT_MISUSE, str(exc))


@click.group("person")
def person_group() -> None:
    """Enrolled persons (with consent) and unidentified persons of a case.

    \b
    Typical use:
      consentry person add --case ./case-17 --name "Jane Doe" --consent jane.json ref1.jpg
      consentry persons --case ./case-17
      consentry person remove E1 --case ./case-17 --yes     # consent withdrawn: erase

    Templates (face embeddings) are encrypted with the key in $CONSENTRY_KEY or, when that is
    not set, CASE_DIR/keys/templates.key (created on first use, mode 0600).
    """


@person_group.command(
    "add",
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
    name = name.strip()
    if not name:
        fail(EXIT_MISUSE, "--name is empty")
    try:
        consent = load_consent(consent_file)
        check_names(consent.record, name)
    except ConsentError as exc:
        fail(EXIT_MISUSE, f"{consent_file}: {exc}")
    if faces and len(faces) not in (1, len(photos)):
        fail(EXIT_MISUSE, f"--face given {len(faces)} times for {len(photos)} photos")
    choices: list[int | None] = [None] * len(photos)
    if faces:
        choices = [faces[0] if len(faces) == 1 else faces[i] for i in range(len(photos))]
    try:
        analyzer = enroll_analyzer()
    except ModelUnavailable as exc:
        fail(EXIT_MISUSE, str(exc))
    references: list[enroll.ReferenceTemplate] = []
    refused: list[str] = []
    for photo, choice in zip(photos, choices, strict=True):
        try:
            ref = enroll.read_reference(photo, analyzer, choice)
        except enroll.ReferencePhotoError as exc:
            refused.append(str(exc))
            continue
        if any(r.sha256 == ref.sha256 for r in references):
            refused.append(f"{photo}: the same file as {references[0].photo} (given twice)")
            continue
        references.append(ref)
    if refused:
        for line in refused[:-1]:
            click.echo(f"error: {plain(line)}", err=True)
        fail(EXIT_MISUSE, refused[-1] + " (nothing was stored)")

    with _open(case_dir, db_url, create=True) as case:
        ps = PersonsStore(case.store.engine)
        for p in ps.persons(include_merged=False):
            if p.kind == ENROLLED and (p.name or "").casefold() == name.casefold():
                fail(EXIT_MISUSE, f"{p.code} is already enrolled as {p.name!r}")
        try:
            key = template_key(ps, case.path, create=True)
        except TemplateKeyError as exc:
            fail(EXIT_MISUSE, str(exc))
        in_evidence = ps.known_contents(r.sha256 for r in references)
        code = ps.add_enrolled(
            name,
            consent.record.as_json(),
            consent.file_sha256,
            examiner,
            [
                NewTemplate(
                    r.sha256,
                    r.md5,
                    r.pdq,
                    r.pdq_quality,
                    r.face_index,
                    r.quality.as_dict(),
                    key.encrypt(r.embedding),
                )
                for r in references
            ],
        )
        case.store.append_audit(
            "person_enrolled",
            examiner,
            {
                "person": code,
                "name": name,
                "consent": json.loads(consent.record.as_json()),
                "consent_file_sha256": consent.file_sha256,
                "reference_photos_sha256": [r.sha256 for r in references],
                # a reference photo that is also an evidence file: its own image matches
                "reference_photos_in_evidence_sha256": sorted(in_evidence),
                "templates": len(references),
                "key_source": "environment" if key.source == ENV_VAR else "case key file",
            },
        )
        outcome = _refresh(case, examiner)
        report = build_report(ps)
    table = Table(title=f"{code} {shown(name)}: {len(references)} template(s)", header_style="bold")
    for col in ("photo", "face", "size px", "detector", "sharpness", "frontal", "faces in photo"):
        table.add_column(col)
    for r in references:
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
    mine = next((s for s in report.persons if s.id == code), None)
    if mine is not None:
        out.print(
            f"{code}: match in {mine.images} image(s), possible in {mine.possible_images}"
            + (" (no faces in the case yet)" if outcome is None or not outcome.faces else "")
        )
    if in_evidence:
        click.echo(
            f"warning: {len(in_evidence)} reference photo(s) are also evidence files of this case "
            "(same SHA-256; recorded in the audit log): those images match by construction",
            err=True,
        )
    if key.source != ENV_VAR:
        out.print(
            f"templates encrypted with {shown(key_file_path(case.path))}; set {ENV_VAR} to keep "
            "the key outside the case folder"
        )


def enroll_analyzer() -> Any:
    """The scan's face analyzer (loaded once per process; tests may put a stand-in here)."""
    from consentry.analyzers.runner import load_faces

    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = load_faces()
    return _ANALYZER


_ANALYZER: Any = None


@person_group.command(
    "list",
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
    report, persons, templates = _read(case_dir, db_url)
    by_code = {s.id: s for s in report.persons}
    enrolled = [p for p in persons if p.kind == ENROLLED]
    rows = []
    for p in enrolled:
        consent = consent_summary(p) or {}
        s = by_code.get(p.code)
        rows.append(
            {
                "id": p.code,
                "name": p.name,
                "templates": templates.get(p.id, 0),
                "consent": s.consent if s else None,
                "consented_by": consent.get("consented_by"),
                "consented_at": consent.get("consented_at"),
                "images": s.images if s else 0,
                "possible_images": s.possible_images if s else 0,
            }
        )
    unidentified = [s.id for s in report.persons if s.kind == UNIDENTIFIED]
    if as_json:
        out.print_json(data={"enrolled": rows, "unidentified": unidentified})
        return
    table = Table(header_style="bold")
    for col in ("id", "name", "templates", "consent", "consented by", "at", "images", "possible"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(shown(r[k]) for k in r))
    out.print(table)
    out.print(f"{len(unidentified)} unidentified person(s): see `consentry persons`")


@person_group.command(
    "show",
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
    with read_case(case_dir, db_url) as case:
        ps = PersonsStore(case.store.engine)
        person = _person(ps, person_id)
        templates = ps.templates_info(person.id)
        report = build_report(ps)
    summary = next((s for s in report.persons if s.id == person.code), None)
    data: dict[str, Any] = {
        "id": person.code,
        "kind": person.kind,
        "name": person.name,
        "status": person.status,
        "created_at": person.created_at,
        "merged_into": None,
    }
    if person.merged_into is not None:
        target = next((p for p in ps.persons() if p.id == person.merged_into), None)
        data["merged_into"] = target.code if target else None
    if person.kind == ENROLLED:
        data["consent"] = consent_summary(person)
        data["consent_file_sha256"] = person.consent_sha256
        data["templates"] = [  # what each template came from; never the template itself
            {
                "reference_sha256": t.ref_sha256,
                "reference_md5": t.ref_md5,
                "reference_pdq": t.ref_pdq,
                "reference_pdq_quality": t.ref_pdq_quality,
                "face": t.face_index + 1,
                "quality": t.quality,
            }
            for t in templates
        ]
    if summary is not None:
        data.update({k: v for k, v in summary.__dict__.items() if k not in data})
    if as_json:
        out.print_json(data=data)
        return
    for key, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, indent=2, ensure_ascii=False)
        out.print(f"[bold]{key}[/]: {shown(value, lines=True)}", highlight=False)


@person_group.command(
    "remove",
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
    with _open(case_dir, db_url) as case:
        ps = PersonsStore(case.store.engine)
        person = _person(ps, person_id)
        if person.kind != ENROLLED:
            fail(
                EXIT_MISUSE,
                f"{person.code} is an unidentified person (faces of the evidence, no template): "
                "use `person merge` / `person split` to correct it",
            )
        if not yes:
            click.confirm(
                f"Erase {person.code} ({person.name}): templates and matches?", abort=True
            )
        erased = ps.remove_enrolled(person.id)
        crops, not_deleted = erasure.delete_crops(case.path, erased.crops)
        case.store.append_audit(
            "person_removed",
            examiner,
            {
                "person": person.code,
                "templates_deleted": erased.templates,
                "matches_deleted": erased.matches,
                "face_embeddings_deleted": erased.face_embeddings,
                "face_crops_deleted": crops,
                "face_crops_not_deleted": len(not_deleted),
                "group_assignments_deleted": erased.group_assignments,
                "reason": reason,
            },
        )
        _refresh(case, examiner)
    out.print(
        f"{person.code} erased: {erased.templates} template(s) and {erased.matches} match(es) "
        f"deleted; {erased.face_embeddings} face embedding(s) and {crops} face crop(s) of the "
        "matched faces removed",
        highlight=False,
        soft_wrap=True,
    )
    for line in not_deleted:
        click.echo(
            f"warning: face crop not deleted: {line} (delete it by hand; every later scan or "
            "`person refresh` tries again)",
            err=True,
        )
    if not erased.clean:
        click.echo(
            "warning: another process is reading the case, so the write-ahead log still holds "
            "old pages; run `consentry person refresh` when it has finished",
            err=True,
        )


@person_group.command(
    "merge",
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
    with _open(case_dir, db_url) as case:
        ps = PersonsStore(case.store.engine)
        src, dst = _person(ps, source), _person(ps, target)
        for p in (src, dst):
            if p.kind != UNIDENTIFIED:
                fail(EXIT_MISUSE, f"{p.code} is enrolled: only unidentified persons are merged")
            if p.status != "active":
                fail(EXIT_MISUSE, f"{p.code} was already merged")
        if src.id == dst.id:
            fail(EXIT_MISUSE, "cannot merge a person into itself")
        moved = ps.merge(src.id, dst.id)
        case.store.append_audit(
            "persons_merged", examiner, {"source": src.code, "target": dst.code, "faces": moved}
        )
    out.print(f"{src.code} merged into {dst.code}: {moved} face(s) moved")


@person_group.command(
    "split",
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
    with _open(case_dir, db_url) as case:
        ps = PersonsStore(case.store.engine)
        person = _person(ps, person_id)
        if person.kind != UNIDENTIFIED or person.status != "active":
            fail(EXIT_MISUSE, f"{person.code} is not an active unidentified person")
        faces = ps.cluster_faces_of(person.id)
        shas = {sha for sha, _ in faces}
        paths = ps.locations_of(shas)
        chosen: set[str] = set()
        for image in images:
            hits = {s for s in shas if image in paths.get(s, []) or s.startswith(image.lower())}
            if len(hits) != 1:
                fail(
                    EXIT_MISUSE,
                    f"{image!r} is {'not an image' if not hits else 'ambiguous among images'} "
                    f"of {person.code}",
                )
            chosen |= hits
        keys = [k for k in faces if k[0] in chosen]
        if len(keys) == len(faces):
            fail(EXIT_MISUSE, f"that would move every face of {person.code}: nothing to split")
        code = ps.split(person.id, keys, examiner)
        case.store.append_audit(
            "person_split",
            examiner,
            {
                "source": person.code,
                "new": code,
                "faces": [f"{sha}:{index}" for sha, index in keys],
            },
        )
    out.print(f"{len(keys)} face(s) of {person.code} are now {code}")


@person_group.command(
    "refresh",
    epilog="""\b
Examples:
  CONSENTRY_KEY=... consentry person refresh --case ./case-17""",
)
@CASE_OPTION
@DB_OPTION
@EXAMINER_OPTION
def person_refresh(case_dir: Path, db_url: str | None, examiner: str | None) -> None:
    """Match and cluster again now (scans and enrollments do this by themselves)."""
    with _open(case_dir, db_url) as case:
        outcome = _refresh(case, examiner, force=True)
        PersonsStore(case.store.engine).truncate_wal()  # finishes an erasure that found it busy
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
    epilog="""\b
Examples:
  export CONSENTRY_KEY=$(consentry person keygen)   # before the first `person add`""",
)
def person_keygen() -> None:
    """Print a new template key for $CONSENTRY_KEY (keep it outside the case folder)."""
    click.echo(Fernet.generate_key().decode("ascii"))


@click.command(
    "persons",
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
    report, _, _ = _read(case_dir, db_url)
    if as_json:
        out.print_json(data={"case": str(case_dir.absolute()), **report.as_dict()})
        return
    _print_report(report)


def _read(
    case_dir: Path, db_url: str | None
) -> tuple[PersonsReport, list[PersonRow], dict[int, int]]:
    with read_case(case_dir, db_url) as case:
        ps = PersonsStore(case.store.engine)
        report = build_report(ps)
        persons = ps.persons()
        templates: dict[int, int] = {}
        for _, pid in ps.template_ids():
            templates[pid] = templates.get(pid, 0) + 1
    return report, persons, templates


def _print_report(report: PersonsReport) -> None:
    table = Table(title="Persons", header_style="bold")
    for col in ("id", "kind", "name", "images", "explicit", "folders", "similarity", "evidence"):
        table.add_column(col, overflow="fold")
    for s in report.persons:
        sim = f"{s.similarity['min']:.2f}-{s.similarity['max']:.2f}" if s.similarity else "-"
        table.add_row(
            s.id,
            s.kind,
            shown(s.name or ""),
            str(s.images) + (f" (+{s.possible_images} possible)" if s.possible_images else ""),
            str(s.explicit_images),
            ", ".join(f"{shown(f['folder'])} ({f['images']})" for f in s.folders[:3])
            + (" ..." if len(s.folders) > 3 else ""),
            sim,
            ("[yellow]weak[/]: " if s.weak else "") + shown(s.evidence),
        )
    out.print(table)
    c = report.count
    out.print(
        f"[bold]persons depicted: {c.estimate}[/] (between {c.lower_bound} and {c.upper_bound})"
        f" = {c.enrolled_matched} enrolled matched + {c.unidentified_strong} unidentified seen "
        f"in 2+ images + {c.unidentified_weak} seen once; {c.unidentified_likely_enrolled} "
        f"group(s) likely an enrolled person; {c.unattributed_faces} face(s) in "
        f"{c.images_with_unattributed_faces} image(s) too poor to attribute",
        highlight=False,
    )
    if report.inconsistencies:
        out.print("[bold]Folders[/]")
        for issue in report.inconsistencies:
            out.print(f"  {issue.kind}: {shown(issue.message)}", highlight=False)
    if not report.up_to_date:
        out.print(
            "[bold red]not up to date[/]: run `consentry person refresh` (with the template key)"
        )


__all__ = ["person_group", "persons_cmd"]
