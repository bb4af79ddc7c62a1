"""The evidence report as PDF: the HTML report's content laid out on A4 by WeasyPrint, with
the report ID on every page and "page x of y" in every footer.

WeasyPrint is optional (``pip install 'consentry[pdf]'``; it needs the Pango system library);
without it this format fails with one clear line and every other format still works.
"""

from __future__ import annotations

import logging
from pathlib import Path

from consentry.reports.collect import CaseReport
from consentry.reports.html_report import render_html
from consentry.reports.options import ReportOptions


def write_pdf(report: CaseReport, out: Path, options: ReportOptions) -> list[Path]:
    from weasyprint import HTML  # lazy: optional dependency, slow to import

    # WeasyPrint warns about every CSS property it ignores; the report's CSS serves screens too
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    out.parent.mkdir(parents=True, exist_ok=True)
    HTML(string=render_html(report, for_print=True), base_url=None).write_pdf(out)
    return [out]


__all__ = ["write_pdf"]
