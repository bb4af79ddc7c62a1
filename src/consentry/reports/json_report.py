"""The machine-readable report: everything in the ``CaseReport``, as JSON that validates
against ``report.schema.json`` (shipped with the package, so consumers can check it too)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from consentry.reports.collect import CaseReport
from consentry.reports.options import ReportOptions

SCHEMA_ID = "https://consentry.invalid/schemas/report-1.json"
SCHEMA_VERSION = "1"


def report_document(report: CaseReport) -> dict[str, Any]:
    return {"schema": SCHEMA_ID, "schema_version": SCHEMA_VERSION, **report.as_dict()}


def load_schema() -> dict[str, Any]:
    text = resources.files("consentry.reports").joinpath("report.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def write_json(report: CaseReport, out: Path, options: ReportOptions) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report_document(report), indent=2, ensure_ascii=False, sort_keys=False)
    out.write_text(text + "\n", encoding="utf-8")
    return [out]


__all__ = ["SCHEMA_ID", "load_schema", "report_document", "write_json"]
