"""Write a case's evidence report in one format (``report``): the format's writer loaded first,
then the case opened once, for writing, for the whole run: the report is collected from that
open case, written, hashed and recorded in its audit log (``report_written``) before the case
is let go, so no scan changes the case between what the report says and the event that
records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from consentry.reports.formats import FORMATS, WrittenReport
from consentry.reports.options import REVERIFY_MODES, ReportOptions
from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened


@dataclass(frozen=True)
class ReportRequest:
    """One report as asked: of ``case``, in ``fmt`` (one of ``FORMATS``), into ``out`` (a file,
    or a folder for hash packs and notices); ``force`` replaces files that exist there."""

    case: CaseRef
    fmt: str
    out: Path
    options: ReportOptions = field(default_factory=ReportOptions)
    force: bool = False


def write_report(request: ReportRequest) -> WrittenReport:
    """Write and record the report; returns what was written with each file's SHA-256 and the
    audit event's number. Raises ServiceError: CASE when the case cannot be opened, MISUSE when
    the report cannot be made as asked (unknown person, format not available here, an output
    inside a source of the case or onto an existing file without ``force``, a picture that
    should be blurred and is not, a file that cannot be written)."""
    from consentry.reports.collect import ReportError
    from consentry.reports.formats import FormatUnavailable, write_report, writer_for
    from consentry.reports.html_report import UnsafeThumbnail
    from consentry.store.output_guard import UnsafeOutput

    fmt = request.fmt
    try:
        writer = writer_for(fmt)
        with opened(request.case) as case:
            return write_report(case, fmt, writer, request.out, request.options, request.force)
    except (ReportError, FormatUnavailable, UnsafeThumbnail, UnsafeOutput) as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    except (ValueError, OSError) as exc:
        raise ServiceError(ErrorCode.MISUSE, f"cannot write the {fmt} report: {exc}") from None


__all__ = [
    "FORMATS",
    "REVERIFY_MODES",
    "ReportOptions",
    "ReportRequest",
    "WrittenReport",
    "write_report",
]
