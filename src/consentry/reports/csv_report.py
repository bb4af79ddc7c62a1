"""One row per location (file on disk or archive member): the inventory a spreadsheet or a
forensic tool imports. Header row first; lists are joined with ``;``.

File names come from the evidence, so a name like ``=HYPERLINK(...)`` would run as a formula
when the CSV is opened in a spreadsheet: text cells starting with ``= + - @`` (or a tab or
carriage return) get a leading apostrophe, the usual guard. The JSON report keeps names exact."""

from __future__ import annotations

import csv
from pathlib import Path

from consentry.records.text_safety import spreadsheet_safe
from consentry.reports.collect import CaseReport, ReportItem
from consentry.reports.options import ReportOptions

COLUMNS = (
    "location",
    "rel_path",
    "source",
    "in_archive",
    "size",
    "mtime_utc",
    "sha256",
    "md5",
    "sha1",
    "pdq",
    "pdq_quality",
    "mime",
    "width",
    "height",
    "explicit_label",
    "explicit_score",
    "provenance_verdict",
    "persons",
    "possible_persons",
    "visual_group",
    "problems",
)


def _row(item: ReportItem) -> list[object]:
    return [
        item.location,
        item.rel_path,
        item.source,
        int(item.in_archive),
        item.size,
        item.mtime,
        item.sha256,
        item.md5,
        item.sha1,
        item.pdq,
        item.pdq_quality,
        item.mime,
        item.width,
        item.height,
        (item.explicit_label or "not analysed") if item.is_image else "",
        item.explicit_score,
        item.provenance_verdict or ("not analysed" if item.is_image else ""),
        ";".join(item.person_codes),
        ";".join(item.possible_person_codes),
        item.visual_group,
        ";".join(item.problems),
    ]


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return value


def write_csv(report: CaseReport, out: Path, options: ReportOptions) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for item in report.items:
            w.writerow([_cell(v) for v in _row(item)])
    return [out]


__all__ = ["COLUMNS", "write_csv"]
