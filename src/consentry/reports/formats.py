"""Which writer makes which format, and the one way a report gets written: collect the case,
write the file(s), hash them, record the report in the case's audit log.

Every writer has one signature, ``Writer``: it renders a ``CaseReport`` into ``out`` and returns
the files it wrote. Writers are imported only when their format is asked for, so a missing
optional module (or its optional dependency, e.g. WeasyPrint for PDF) is one clear error.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..case import open_case
from .collect import CaseReport, collect_case
from .options import ReportOptions

Writer = Callable[[CaseReport, Path, ReportOptions], list[Path]]

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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_report(
    case_dir: Path,
    fmt: str,
    out: Path,
    options: ReportOptions,
    db_url: str | None = None,
) -> WrittenReport:
    """Write one report and record it (format, files and their SHA-256, scope, redaction) in
    the case's audit log. The writer is loaded first (a missing format fails before anything
    is read), then the case is locked for the whole run, so no scan changes it between what the
    report says and the audit event that records it. A writer that takes a ``store`` keyword
    (notices: their state lives in the audit log) gets the case's store.
    Raises FormatUnavailable, collect.ReportError, case.CaseError."""
    writer = writer_for(fmt)
    with open_case(case_dir, db_url) as case:
        report = collect_case(case_dir, options, db_url)
        if "store" in inspect.signature(writer).parameters:
            paths = writer(report, out, options, store=case.store)  # type: ignore[call-arg]
        else:
            paths = writer(report, out, options)
        files = [WrittenFile(p, sha256_file(p)) for p in paths]
        # A file cannot contain its own hash: each file's SHA-256 goes to the audit log (and
        # to a .sha256 file beside it), where a reader checks the report was not altered.
        for f in files:
            f.path.with_name(f.path.name + ".sha256").write_text(
                f"{f.sha256}  {f.path.name}\n", encoding="utf-8"
            )
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
    "sha256_file",
    "write_report",
    "writer_for",
]
