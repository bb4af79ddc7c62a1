"""Which writer makes which format, and the one way a report gets written: collect the open
case, write the file(s), hash them, record the report in the case's audit log.

Every writer has one signature, ``Writer``: it renders a ``CaseReport`` into ``out`` and returns
the files it wrote. Writers are imported only when their format is asked for, so a missing
optional module (or its optional dependency, e.g. WeasyPrint for PDF) is one clear error; the
collector and the store are imported when a report is written, so a shell can list ``FORMATS``
without loading either.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.records.file_hash import sha256_of_file
from consentry.reports.options import ReportOptions

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport
    from consentry.store.case import Case

Writer = Callable[["CaseReport", Path, ReportOptions], list[Path]]

# format -> (module, function); the module is imported on first use
WRITERS: dict[str, tuple[str, str]] = {
    "html": ("consentry.reports.html_report", "write_html"),
    "pdf": ("consentry.reports.pdf_report", "write_pdf"),
    "json": ("consentry.reports.json_report", "write_json"),
    "csv": ("consentry.reports.csv_report", "write_csv"),
    "vics": ("consentry.reports.vics", "write_vics"),
    "case": ("consentry.reports.case_uco", "write_case_uco"),
    "hashpack": ("consentry.reports.hashpack", "write_hashpack"),
    "notice": ("consentry.reports.notice", "write_notices"),
}
FORMATS = tuple(WRITERS)
AUDIT_ACTION = "report_written"


class FormatUnavailable(RuntimeError):
    """The format's writer cannot be loaded in this installation (one line for the examiner)."""


def writer_for(fmt: str) -> Writer:
    if fmt not in WRITERS:
        raise FormatUnavailable(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    module_name, function = WRITERS[fmt]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise FormatUnavailable(
                f"format {fmt!r} is not available in this version ({module_name} is missing)"
            ) from None
        raise FormatUnavailable(
            f"format {fmt!r} needs the Python package {exc.name!r}, which is not installed"
            + (": pip install 'consentry[pdf]'" if fmt == "pdf" else "")
        ) from None
    writer = getattr(module, function, None)
    if writer is None:
        raise FormatUnavailable(f"format {fmt!r}: {module_name} has no {function}()")
    return writer


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    sha256: str


@dataclass(frozen=True)
class WrittenReport:
    report: CaseReport
    fmt: str
    files: list[WrittenFile]
    audit_seq: int


def write_report(
    case: Case,
    fmt: str,
    writer: Writer,
    out: Path,
    options: ReportOptions,
    force: bool = False,
) -> WrittenReport:
    """Write one report of ``case`` with ``writer`` (``writer_for(fmt)``) and record it (format,
    files and their SHA-256, scope, redaction) in the case's audit log. The caller loads the
    writer before it opens the case (a missing format fails before anything is read) and holds
    the case open for writing for the whole run, so no scan changes it between what the report
    says and the audit event that records it; the report is collected from that same open
    case. A writer that takes a ``store`` keyword (notices: their state lives in the audit log)
    gets the case's store.

    Where it writes is checked first, against the case's recorded sources
    (``output_guard``): never inside evidence, never over an existing file unless ``force``.
    Single-file formats are checked here; a writer that takes a ``guard`` keyword (hash packs,
    notices: a folder of files) checks each of its files with it before writing any.
    Raises collect.ReportError, output_guard.UnsafeOutput."""
    from consentry.reports.collect import collect
    from consentry.store.output_guard import guard_for_case, sidecar

    parameters = inspect.signature(writer).parameters
    guard = guard_for_case(case.store, case.path, force)
    if "guard" in parameters:
        guard.check_folder(out)
    else:
        guard.check_outputs([out])
    report = collect(case, options)
    extra: dict[str, object] = {}
    if "store" in parameters:
        extra["store"] = case.store
    if "guard" in parameters:
        extra["guard"] = guard
    else:
        guard.prepare(out)  # forced: the old file (or a link) goes, none is written through
    paths = writer(report, out, options, **extra)
    files = [WrittenFile(p, sha256_of_file(p)) for p in paths]
    # A file cannot contain its own hash: each file's SHA-256 goes to the audit log (and
    # to a .sha256 file beside it), where a reader checks the report was not altered.
    for f in files:
        guard.write_text(sidecar(f.path), f"{f.sha256}  {f.path.name}\n")
    seq = case.store.append_audit(
        AUDIT_ACTION,
        options.examiner,
        {
            "report_id": report.report_id,
            "format": fmt,
            "path": str(files[0].path.absolute()) if files else None,
            "sha256": files[0].sha256 if files else None,
            "files": [{"path": str(f.path.absolute()), "sha256": f.sha256} for f in files],
            "person": options.person,
            "redact": options.redact,
            "reverify": options.reverify,
            "items": len(report.items),
        },
    )
    return WrittenReport(report, fmt, files, seq)


__all__ = [
    "AUDIT_ACTION",
    "FORMATS",
    "WRITERS",
    "FormatUnavailable",
    "WrittenFile",
    "WrittenReport",
    "Writer",
    "write_report",
    "writer_for",
]
