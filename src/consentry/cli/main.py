"""The ``consentry`` command. Thin: parse, call the pipeline or the store, print.

Exit status: 0 the command completed (per-file errors are counted, not fatal); 2 misuse (bad
option, missing source); 3 the case folder is unusable; 4 ``audit verify`` found tampering.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from consentry import __version__
from consentry.cli.audit_sign import tampered
from consentry.cli.common import (
    EXIT_MISUSE,  # noqa: F401 - scripts and tests read the exit statuses here
    EXIT_TAMPERED,
    OutputConsole,
    SourcePaths,
    executor_options,
    failed,
    fits,
    indented,
    plain,
    print_json,
    shown,
)
from consentry.services.audit import AuditTampered, audit_events, take_anchor, verify_audit
from consentry.services.case import CaseRef, ServiceError
from consentry.services.scan import BUILTIN_ANALYZERS, ScanProgress, ScanRequest, hash_image
from consentry.services.scan import scan as scan_sources
from consentry.services.summary import analyzer_rows, case_sources, list_problems, summarize

if TYPE_CHECKING:
    from consentry.services.summary import CaseCounts

err = OutputConsole(stderr=True)
out = OutputConsole()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="consentry")
def main() -> None:
    """consentry - find, prove and stop non-consensual sexually explicit deepfakes.

    \b
    Typical investigation:
      consentry scan /mnt/seized --case cases/2026-017 --examiner "J. Doe"
      consentry case summary --case cases/2026-017
      consentry person add --case cases/2026-017 --name "Jane Doe" --consent jane.json ref.jpg
      consentry persons --case cases/2026-017
      consentry links --case cases/2026-017
      consentry audit verify --case cases/2026-017
      consentry report --case cases/2026-017 --format html --out report.html

    Evidence is only ever read. Every action on a case is appended to an audit log whose events
    are chained by their hashes. `consentry COMMAND --help` shows each command's examples.
    """


class _CountColumn(ProgressColumn):
    """Done / total in the task's unit ("46/46 files", "12 files" while the total is unknown,
    "nothing to do" for a phase that had none)."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if not unit:  # a step without counts (the read-only check)
            return Text("done" if task.finished else "")
        if task.total is None:
            return Text(f"{task.completed:,.0f} {unit}")
        if task.total == 0:
            return Text(task.fields.get("none", "nothing to do"))
        return Text(f"{task.completed:,.0f}/{task.total:,.0f} {unit}")


class _RateColumn(ProgressColumn):
    """Items per second of the phase, in its unit; nothing when the phase had nothing to do."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed or not task.completed:
            return Text("")
        return Text(f"{speed:,.1f} {task.fields.get('unit', '')}/s")


class _EtaColumn(ProgressColumn):
    """The time left while a phase with a known total runs; nothing once it is over."""

    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        if task.finished or not task.total or task.time_remaining is None:
            return Text("")
        minutes, seconds = divmod(int(task.time_remaining), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"eta {hours}:{minutes:02d}:{seconds:02d}")


# phases the bar shows as steps without counts: phase name -> label
STEPS = {"verify": "source check", "persons": "persons", "traces": "browser traces"}


class _BarProgress(ScanProgress):
    """The scan's progress on stderr, drawn from when the scan starts (after every misuse
    check) until ``stop``; ``quiet`` draws nothing. Each phase counts in its own unit: the
    inventory and the analysis files, the derivation pass first the images whose features it
    computes, then the pairs of images it verifies (not files: 339 pairs for 42 images).

    The derivation pass reports both through one total: ``analysis_total(images)``, the
    images, then ``analysis_total(images + pairs)`` once they are done; a total that grows
    after the images are done starts the pairs (a ``pairs`` phase, when the pass names it,
    does the same). ``done`` keeps what each phase did, for the summary."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Progress | None = None
        self.done: dict[str, int] = {}  # phase -> items done (files, images, pairs)
        self._phase = ""
        self._pairs_offset: int | None = None  # derivation: images counted before the pairs
        self._image: TaskID | None = None  # a disk image's hash check

    def started(self) -> None:
        columns = [
            SpinnerColumn(),
            TextColumn("{task.description:<12}"),
            BarColumn(),
            _CountColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            _EtaColumn(),
        ]
        self.bar = Progress(*columns, console=err, disable=self.quiet, transient=False)
        self.bar.start()
        self.inv = self.bar.add_task("inventory", total=None, unit="files", none="no files found")
        self.ana = self.bar.add_task("analysis", total=None, start=False, unit="files")

    def stop(self) -> None:
        if self.bar is not None:
            self._close(self.ana)
            self.bar.stop()
            self.bar = None

    def _close(self, task_id: TaskID) -> None:
        """A phase is over: its total is what it did (so nothing reads as unfinished)."""
        assert self.bar is not None
        task = self.bar.tasks[task_id]
        if not task.fields.get("unit"):
            self.bar.update(task_id, total=1, completed=1)
        elif task.total is None or task.completed < task.total:
            self.bar.update(task_id, total=task.completed)

    def phase(self, name: str) -> None:
        assert self.bar is not None
        if name == "analysis":
            self._close(self.inv)
            self.bar.start_task(self.ana)
        elif name in ("reanalysis", "derivation", "pairs"):
            self._close(self.ana)
            label, unit = {
                "reanalysis": ("new findings", "files"),
                "derivation": ("link: images", "images"),
                "pairs": ("link: pairs", "pairs"),
            }[name]
            self.ana = self.bar.add_task(label, total=None, unit=unit)
            self._pairs_offset = 0 if name == "pairs" else None
        elif name in STEPS:  # a step without counts (every source stat-ed again; matching)
            self._close(self.ana)
            self.ana = self.bar.add_task(STEPS[name], total=None, unit="")
        self._phase = name

    def image_bytes(self, done: int, total: int) -> None:
        """A disk image's hash check, in MiB (its own bar, before the image is walked)."""
        assert self.bar is not None
        if self._image is None:
            self._image = self.bar.add_task("image hash", total=None, unit="MiB")
        self.bar.update(self._image, completed=done / 2**20, total=total / 2**20)

    def inventory(self, files_found: int) -> None:
        assert self.bar is not None
        self.bar.update(self.inv, completed=files_found)
        self.done["inventory"] = files_found

    def analysis_total(self, total: int) -> None:
        assert self.bar is not None
        task = self.bar.tasks[self.ana]
        images_done = task.total is not None and task.completed >= task.total < total
        if self._phase == "derivation" and self._pairs_offset is None and images_done:
            images = int(task.completed)  # the images are done; the rest of the total are pairs
            self.phase("pairs")
            self._phase, self._pairs_offset = "derivation", images
        offset = self._pairs_offset or 0
        self.bar.update(self.ana, total=max(total - offset, 0))

    def analysed(self, n: int) -> None:
        assert self.bar is not None
        self.bar.advance(self.ana, n)
        key = "pairs" if self._pairs_offset is not None else self._phase
        self.done[key] = self.done.get(key, 0) + n


@main.command(
    short_help="Inventory, hash and analyse SOURCES into a case.",
    epilog="""\b
Examples:
  consentry scan ./seized --case ./case-17 --examiner "A. Examiner"
  consentry scan phone.zip backup/ --case ./case-17      # zips are opened, nested too
  consentry scan ./seized --case ./case-17               # re-run: resumes, skips done work
  consentry scan ./seized --case ./case-17 --skip faces  # leave an analyzer out
  consentry scan ./seized --case ./case-17 --only explicit
  consentry scan ./seized --case ./case-17 --detector-model ./my-ai-detector.onnx
  consentry scan ./seized --case ./case-17 --watermarks-in-jpeg   # slower, checks JPEGs too
  consentry scan ./seized --case ./case-17 --c2pa-trust-anchors ./c2pa-trust-list.pem
  CONSENTRY_C2PA_TRUST_ANCHORS=./c2pa-trust-list.pem consentry scan ./seized --case ./case-17
  consentry scan disk2/ --case ./case-17 --no-links    # scanned in parts: link once, at the end
  consentry links --case ./case-17
  consentry scan ./seized --case ./case-17 --db postgresql+psycopg://u@host/case17
  consentry scan ./seized --case ./case-17 --executor ray        # Ray on this machine's cores
  consentry scan /mnt/evidence/seizure-9 --case /mnt/cases/9 --executor ray \
    --ray-address head-node:6379 --db postgresql+psycopg://u@db/case9   # a Ray cluster

Re-running after an interruption (even kill -9) finishes the missing work only; the store then
holds exactly what one uninterrupted run would. Per-file problems (corrupt, encrypted, bombs,
unreadable...) are recorded with a stable code and the scan goes on; see `case summary`.""",
)
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--case",
    "case_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Case folder (created if new, reopened if it exists).",
)
@click.option("--examiner", default=None, help="Who runs the scan (recorded in the audit log).")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Parallel workers [default: number of CPU cores; with --executor ray, the cluster's].",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    help="SQLAlchemy URL of the store instead of case.sqlite (e.g. PostgreSQL).",
)
@click.option(
    "--only",
    default=None,
    metavar="A,B",
    help=f"Run only these analyzers ({', '.join(BUILTIN_ANALYZERS)}, or an installed "
    f"plug-in's) [default: {', '.join(BUILTIN_ANALYZERS)} and the plug-ins'].",
)
@click.option("--skip", default=None, metavar="A,B", help="Skip these analyzers.")
@click.option(
    "--detector-model",
    default=None,
    type=click.Path(path_type=str, dir_okay=False),
    help="An ONNX 'is this AI-generated?' classifier you provide: its score becomes one more "
    "provenance signal ('indicated', never 'confirmed'); its SHA-256 is recorded with every "
    "score. consentry ships and downloads none.",
)
@click.option(
    "--watermarks-in-jpeg",
    is_flag=True,
    help="Also decode JPEGs at full size to look for invisible generator watermarks "
    "(100-250 ms per photo; by default only PNG, WebP and other non-JPEG images are checked).",
)
@click.option(
    "--c2pa-trust-anchors",
    "c2pa_trust_anchors",
    default=None,
    metavar="FILE.pem",
    envvar="CONSENTRY_C2PA_TRUST_ANCHORS",
    help="PEM certificates (e.g. the C2PA trust list, obtained out of band) whose signers count "
    "as trusted: a C2PA manifest signed under them reads 'trusted', and a trusted AI claim "
    "confirms. Without it no signature is more than 'valid, untrusted'. Its SHA-256 is recorded "
    "with the scan; other anchors later redo only the provenance findings. "
    "[env: CONSENTRY_C2PA_TRUST_ANCHORS]",
)
@click.option(
    "--no-links",
    is_flag=True,
    help="Leave out the derivation pass (which image was made from which); run "
    "`consentry links --case DIR` when the case is complete. It compares images with each other, "
    "so on a large seizure scanned in parts it is cheaper once at the end.",
)
@click.option(
    "--services",
    "services_file",
    default=None,
    type=click.Path(path_type=str, dir_okay=False, exists=True),
    metavar="FILE.yaml",
    help="A list of AI undress / nudify / face-swap services (the shipped list's format: "
    "`consentry traces services --write-default FILE`) to look for in browser histories, "
    "instead of the list shipped with consentry.",
)
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def scan(
    sources: tuple[str, ...],
    case_dir: Path,
    examiner: str | None,
    workers: int | None,
    db_url: str | None,
    only: str | None,
    skip: str | None,
    detector_model: str | None,
    watermarks_in_jpeg: bool,
    c2pa_trust_anchors: str | None,
    no_links: bool,
    services_file: str | None,
    executor: str,
    ray_address: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Inventory and hash every file in SOURCES (files, folders, .zip) into a case.

    For every file: size, mtime, type from content, SHA-256, MD5, SHA-1; for images also format,
    size, EXIF, PDQ (+quality, +8 rotations/flips) computed at 512 px, and the analyzers:
    explicit (Open-NSFW score, NudeNet regions when installed), faces (YuNet + SFace) and
    provenance (C2PA, generator metadata, invisible watermarks: confirmed / indicated /
    no_signal, where no signal never means "real"). Every image gets a thumbnail in the case
    folder, blurred unless labelled not explicit. Re-running with an analyzer newly enabled
    adds its findings without re-hashing.
    """
    request = ScanRequest(
        case=CaseRef(case_dir, db_url),
        sources=sources,
        examiner=examiner,
        workers=workers,
        only=_names(only),
        skip=_names(skip),
        detector_model=detector_model,
        watermarks_in_jpeg=watermarks_in_jpeg,
        c2pa_trust_anchors=c2pa_trust_anchors,
        link=not no_links,
        services_file=services_file,
        executor=executor,
        ray_address=ray_address,
    )
    bar = _BarProgress(quiet)
    try:
        result = scan_sources(request, bar)
    except ServiceError as exc:
        bar.stop()
        failed(exc)
    finally:
        bar.stop()
    counts = result.counts
    if as_json:
        print_json(
            out,
            {
                "case": str(result.case_path),
                "scan_id": result.scan_id,
                "elapsed_s": round(result.elapsed_s, 3),
                "executor": result.executor,
                "workers": result.workers,
                "analysed": result.analysed,
                "new_locations": result.new_locations,
                "source_changes": [c.path for c in result.source_changes],
                **counts.as_dict(),
            },
        )
        return
    _print_counts(counts, title=f"Scan {result.scan_id} finished in {result.elapsed_s:.1f} s")
    noun = f"{result.workers} {'Ray worker' if result.executor == 'ray' else 'worker'}"
    for line in _work_lines(result.analysed, result.elapsed_s, noun, result.workers, bar.done):
        out.print(line, highlight=False)
    if result.source_changes:
        out.print(
            f"[bold red]{len(result.source_changes)} source file(s) changed during the "
            "scan[/] (not by consentry): see `consentry case problems`"
        )
    else:
        out.print("read-only check: every source file is unchanged (size, mtime)")
    out.print(f"case: {shown(result.case_path)}")


def _work_lines(
    analysed: int, elapsed_s: float, noun: str, workers: int, done: dict[str, int]
) -> list[str]:
    """What this run did, in the units it did it in; a run with nothing to do says so (no
    "0.0 files/s"). The rate is over the whole run (inventory, analysis, persons, links)."""
    processes = f"{noun}{'s' if workers != 1 else ''}"
    if analysed:
        lines = [
            f"analysed now: {analysed:,} file(s) in {elapsed_s:.1f} s with {processes} "
            f"({analysed / elapsed_s:,.1f} files/s over the whole scan)"
            if elapsed_s > 0
            else f"analysed now: {analysed:,} file(s) with {processes}"
        ]
    else:
        lines = ["nothing new to analyse: every file found was analysed by an earlier scan"]
    if done.get("reanalysis"):
        lines.append(f"new findings added to {done['reanalysis']:,} file(s) analysed before")
    images, pairs = done.get("derivation", 0), done.get("pairs", 0)
    if images or pairs:
        lines.append(
            f"links: features of {images:,} new image(s), {pairs:,} pair(s) of images verified"
        )
    return lines


def _names(text: str | None) -> frozenset[str] | None:
    """An --only / --skip list ("a,b") as names; None when the option was not given."""
    if text is None:
        return None
    return frozenset(n.strip() for n in text.split(",") if n.strip())


def _print_counts(counts: CaseCounts, title: str) -> None:
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("what is counted")
    table.add_column("count", justify="right")
    rows = [
        ("files (every file found, on disk or inside an archive)", counts.files),
        ("  on disk", counts.files_on_disk),
        ("  inside archives", counts.archive_members),
        ("images (files that decoded as images)", counts.images),
        ("unique contents (distinct SHA-256)", counts.unique_contents),
        ("unique images (distinct SHA-256)", counts.unique_images),
        ("duplicate locations (same bytes found again)", counts.duplicate_locations),
        ("files with errors", counts.errors.total),
        ("files with warnings", counts.warnings.total),
    ]
    rows += analyzer_rows(counts)  # each analyzer's rows, in registration order
    if counts.pending:
        rows.append(("not yet analysed (re-run the scan)", counts.pending))
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    out.print(table)
    for kind, problems in (("errors", counts.errors), ("warnings", counts.warnings)):
        if problems.by_code:
            out.print(
                f"{kind} by kind: " + ", ".join(f"{k} {v}" for k, v in problems.by_code.items())
            )


@main.command(
    "hash",
    epilog="""\b
Examples:
  consentry hash photo.jpg
  consentry hash *.jpg --format pytx > bank.txt      # python-threatexchange "pdq <hex>" lines
  consentry hash photo.jpg --format json | jq .pdq""",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "pytx", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def hash_cmd(files: tuple[str, ...], fmt: str) -> None:
    """Print PDQ (hex + quality), MD5 and SHA-256 of image FILES.

    PDQ is computed on the image shrunk to fit 512 px with EXIF orientation applied, as Meta's
    reference does; hashes of quality < 50 are too plain to match on. A file without a PDQ (not
    readable, not an image) is reported on stderr with the problem code a scan would record for
    it, and the other files are still hashed.

    Exit status: 0 every file got a PDQ; 1 some file did not (see stderr); 2 misuse.
    """
    some_failed = False
    for name in files:
        result = hash_image(name)
        if result.error:
            some_failed = True
            err.print(
                f"{shown(name)}: [red]{result.error.code}[/] {shown(result.error.message)}",
                highlight=False,
            )
            if fmt == "json":
                click.echo(
                    json.dumps(
                        {
                            "file": name,
                            "error": result.error.code.value,
                            "message": result.error.message,
                        }
                    )
                )
            continue
        if fmt == "pytx":
            if result.pdq:
                click.echo(f"pdq {result.pdq}")
        elif fmt == "json":
            click.echo(
                json.dumps(
                    {
                        "file": name,
                        "pdq": result.pdq,
                        "pdq_quality": result.pdq_quality,
                        "md5": result.md5,
                        "sha256": result.sha256,
                    }
                )
            )
        else:
            click.echo(
                f"{plain(name)}\n  pdq     {result.pdq} (quality {result.pdq_quality})\n"
                f"  md5     {result.md5}\n  sha256  {result.sha256}"
            )
    sys.exit(1 if some_failed else 0)


@main.group("case")
def case_group() -> None:
    """Look at a case: counts and per-file problems.

    \b
    Examples:
      consentry case summary --case ./case-17
      consentry case problems --case ./case-17 --json
    """


@case_group.command(
    "summary",
    epilog="""\b
Examples:
  consentry case summary --case ./case-17
  consentry case summary --case ./case-17 --json | jq .errors""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None, help="Store URL if the case does not use SQLite.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def case_summary(case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """Counts of files, images, unique contents and errors by kind."""
    try:
        summary = summarize(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    counts = summary.counts
    if as_json:
        definitions = {
            "files": "every file found, on disk or inside an archive (a location)",
            "images": "files whose content decoded as an image",
            "unique_contents": "distinct SHA-256 among all files",
            "errors": "files with at least one error-level problem, by problem code",
        }
        print_json(
            out,
            {
                "case": str(summary.case_path),
                "case_id": summary.case_id,
                **counts.as_dict(),
                "definitions": definitions,
            },
        )
        return
    _print_counts(counts, title=f"Case {shown(summary.case_id)}")


@case_group.command(
    "problems",
    epilog="""\b
Examples:
  consentry case problems --case ./case-17
  consentry case problems --case ./case-17 --json""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None)
@click.option("--json", "as_json", is_flag=True)
def case_problems(case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """Every file with a problem: path, stable code, severity, message."""
    try:
        rows = list_problems(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(out, {"problems": [asdict(r) for r in rows]})
        return
    try:
        paths = SourcePaths(case_sources(CaseRef(case_dir, db_url)))
    except ServiceError as exc:
        failed(exc)
    if not rows:
        out.print("no problems: every file was read, hashed and analysed")
        return
    if paths.header:
        out.print(shown(paths.header), highlight=False)
    table = Table(show_header=True, header_style="bold")
    table.add_column("path", overflow="fold")  # folded only on a terminal too narrow for it
    table.add_column("code", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("message", overflow="fold")
    for r in rows:
        table.add_row(
            shown(paths.below(r.path)), r.code, r.severity, shown(paths.in_text(r.message))
        )
    out.print(table)


@main.group("audit")
def audit_group() -> None:
    """The case's hash-chained audit log.

    \b
    Examples:
      consentry audit verify --case ./case-17
      consentry audit anchor --case ./case-17       # SEQ:HASH to keep outside the case
      consentry audit show --case ./case-17
      consentry audit keygen --out ~/keys/examiner.key
      consentry audit sign --case ./case-17 --key ~/keys/examiner.key
    """


@audit_group.command(
    "verify",
    short_help="Check that the audit log is intact (against anchors and signatures).",
    epilog="""\b
Examples:
  consentry audit verify --case ./case-17     # exit 0: intact; exit 4: tampered
  consentry audit verify --case ./case-17 --anchor 42:9f2c...e1   # anchor kept elsewhere

\b
The chain proves that no event was edited, removed or reordered relative to the others and
that audit.head names the last event. It cannot prove that the whole log was not rewritten:
anyone who can write the case folder can re-hash every event and audit.head. Record
`consentry audit anchor` outside the case (report, e-mail, second system) and pass it back
with --anchor: every event up to the anchor is then shown unchanged.""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None)
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    metavar="SEQ:HASH",
    help="An event's number and hash recorded outside the case (`audit anchor`); repeatable.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    metavar="ed25519:KEY",
    help="The examiner's public key (`audit keygen`), obtained outside the case: the log must "
    "carry a valid signature by it (`audit sign`); repeatable.",
)
def audit_verify(
    case_dir: Path, db_url: str | None, anchors: tuple[str, ...], public_keys: tuple[str, ...]
) -> None:
    """Check that no audit event was edited, deleted, reordered or appended, against
    audit.head, any anchors recorded outside the case and any examiner signatures."""
    try:
        checked = verify_audit(CaseRef(case_dir, db_url), anchors, public_keys)
    except ServiceError as exc:
        failed(exc)
    if checked.findings:
        for f in checked.findings:
            out.print(
                f"[bold red]TAMPERED[/] ({f.kind}) {shown(f.message)}",
                highlight=False,
                soft_wrap=True,
            )
        sys.exit(EXIT_TAMPERED)
    out.print(
        f"OK: {checked.events} audit events, chain intact, audit.head names event "
        f"{checked.newest_seq}, newest {checked.newest_hash[:16]}",
        highlight=False,
        soft_wrap=True,
    )
    if checked.anchors:
        upto = max(a.seq for a in checked.anchors)
        out.print(
            f"anchored: event(s) {', '.join(str(a.seq) for a in checked.anchors)} match the "
            f"anchor(s) recorded outside the case, so events 1-{upto} are unchanged"
            + (
                f"; events {upto + 1}-{checked.newest_seq} are checked only inside the case"
                if upto < checked.newest_seq
                else ""
            ),
            highlight=False,
            soft_wrap=True,
        )
    newest = checked.newest_signature
    if newest is not None:
        out.print(
            f"signed: events 1-{newest.signed_seq} by {newest.public_key} "
            + (
                "(the given examiner key)"
                if checked.signed_by_given_key
                else "(a key named inside the case: check it with --public-key)"
            ),
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"proves: {checked.proves}.", highlight=False, soft_wrap=True)
    if checked.cannot_prove is not None:
        out.print(f"cannot prove: {checked.cannot_prove}.", highlight=False, soft_wrap=True)


@audit_group.command(
    "anchor",
    short_help="Print the newest event as SEQ:HASH, to record outside the case.",
    epilog="""\b
Examples:
  consentry audit anchor --case ./case-17            # prints e.g. 42:9f2c...e1
  consentry audit verify --case ./case-17 --anchor 42:9f2c...e1   # later

\b
Record the printed SEQ:HASH somewhere the case's writers cannot change (the report, an
e-mail, a ticket, a second system). A log rewritten after that no longer contains event SEQ
with that hash, and `audit verify --anchor` says so. Refused (exit 4) when the chain does not
verify now: an anchor of a tampered log would vouch for it.""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None)
def audit_anchor(case_dir: Path, db_url: str | None) -> None:
    """Print the newest audit event as SEQ:HASH, to record outside the case."""
    try:
        anchor = take_anchor(CaseRef(case_dir, db_url))
    except AuditTampered as exc:
        tampered(exc)
    except ServiceError as exc:
        failed(exc)
    click.echo(str(anchor))


@audit_group.command(
    "show",
    epilog="""\b
Examples:
  consentry audit show --case ./case-17
  consentry audit show --case ./case-17 --json""",
)
@click.option("--case", "case_dir", required=True, type=click.Path(path_type=Path))
@click.option("--db", "db_url", default=None)
@click.option("--json", "as_json", is_flag=True)
def audit_show(case_dir: Path, db_url: str | None, as_json: bool) -> None:
    """List the audit events in order."""
    try:
        events = audit_events(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    if as_json:
        print_json(
            out,
            {
                "events": [
                    {
                        "seq": e.seq,
                        "ts": e.ts,
                        "action": e.action,
                        "actor": e.actor,
                        "payload": json.loads(e.payload),
                        "hash": e.hash,
                    }
                    for e in events
                ]
            },
        )
        return
    rows = []
    for e in events:
        details = e.payload
        if len(details) > AUDIT_DETAILS_SHOWN:  # said, never cut silently
            left = len(details) - AUDIT_DETAILS_SHOWN
            details = f"{details[:AUDIT_DETAILS_SHOWN]} ... (+{left} characters: --json)"
        rows.append((str(e.seq), shown(_seconds(e.ts)), shown(e.action), shown(e.actor or ""),
                     shown(details)))  # fmt: skip
    table = Table(show_header=True, header_style="bold")
    for col in ("seq", "time", "action", "actor"):
        table.add_column(col, no_wrap=col in ("seq", "time"))
    table.add_column("details", overflow="fold")
    for row in rows:
        table.add_row(*row)
    if fits(out, table):
        out.print(table)
        return
    for seq, ts, action, actor, details in rows:  # a narrow terminal: one block per event
        out.print(f"[bold]{seq}[/] {ts} {action}" + (f" by {actor}" if actor else ""))
        out.print(indented(details, 4))


def _seconds(ts: str) -> str:
    """An audit time to the second (the event itself keeps the microseconds: --json)."""
    try:
        return datetime.fromisoformat(ts).isoformat(timespec="seconds")
    except ValueError:
        return ts


AUDIT_DETAILS_SHOWN = 200  # characters of an event's details in the table; --json has them all


from consentry.cli.audit_sign import audit_keygen, audit_sign  # noqa: E402

audit_group.add_command(audit_keygen)
audit_group.add_command(audit_sign)
from consentry.cli.persons import person_group, persons_cmd  # noqa: E402 - registered after main exists

main.add_command(person_group)
main.add_command(persons_cmd)
from consentry.cli.links import links_cmd  # noqa: E402

main.add_command(links_cmd)
from consentry.cli.report import report_cmd  # noqa: E402

main.add_command(report_cmd)
from consentry.cli.notice import notice_group  # noqa: E402

main.add_command(notice_group)

from consentry.cli.users import user_group  # noqa: E402

main.add_command(user_group)
from consentry.cli.requests import requests_group  # noqa: E402

main.add_command(requests_group)
from consentry.cli.traces import traces_group  # noqa: E402

main.add_command(traces_group)
from consentry.cli.serve import serve_cmd  # noqa: E402

main.add_command(serve_cmd)
from consentry.cli.service import service_group  # noqa: E402

main.add_command(service_group)
from consentry.cli.pack import pack_cmd  # noqa: E402

main.add_command(pack_cmd)


if __name__ == "__main__":  # pragma: no cover
    main()
