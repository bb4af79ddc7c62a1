"""A scan that stops on an error that is not about one file says so everywhere: the audit log
(``scan_failed``), the scan's status, the summary (pending files counted as pending, not as
unreadable) and the first page of the report; the re-run resumes and completes the case."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from consentry.analyzers import runner as image_analysis
from consentry.cli.common import EXIT_SCAN_FAILED
from consentry.cli.main import main
from consentry.scan import pipeline
from consentry.store.case import open_case
from consentry.store.case_store import CaseStore

from .synthetic import write_jpeg


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    image_analysis.reset_process()
    yield
    image_analysis.reset_process()


def _evidence(tmp_path: Path, n: int = 12) -> Path:
    root = tmp_path / "evidence"
    for i in range(n):
        write_jpeg(root / f"{i:02d}.jpg", seed=70 + i, width=160, height=120)
    return root


SCAN = ["--workers", "1", "-q", "--skip", "explicit,faces,provenance", "--no-links"]


def _events(case: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        rows = db.execute("SELECT action, payload FROM audit_events ORDER BY seq").fetchall()
    return [(a, json.loads(p)) for a, p in rows]


def test_a_failed_scan_is_recorded_counted_as_pending_and_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evidence = _evidence(tmp_path)
    case = tmp_path / "case"
    real_record = CaseStore.record
    calls = {"n": 0}

    def failing_record(self: CaseStore, results: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_record(self, results)

    monkeypatch.setattr(pipeline, "RECORD_BATCH", 2)
    monkeypatch.setattr(pipeline, "RECORD_EVERY_S", 3600.0)
    monkeypatch.setattr(CaseStore, "record", failing_record)
    runner = CliRunner()
    result = runner.invoke(main, ["scan", str(evidence), "--case", str(case), *SCAN])
    assert result.exit_code == EXIT_SCAN_FAILED, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "resume" in lines[0]

    failed = [p for a, p in _events(case) if a == "scan_failed"]
    assert len(failed) == 1 and "No space left" in failed[0]["error"]
    assert failed[0]["pending"] == 8
    with sqlite3.connect(case / "case.sqlite") as db:
        assert db.execute("SELECT status FROM scans").fetchall() == [("failed",)]

    summary = json.loads(
        runner.invoke(main, ["case", "summary", "--case", str(case), "--json"]).output
    )
    assert summary["pending"] == 8
    assert summary["unreadable"] == 0  # pending files were counted as unreadable before

    report = tmp_path / "report.json"
    out = runner.invoke(
        main, ["report", "--case", str(case), "--format", "json", "--out", str(report)]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(report.read_text())
    assert data["incomplete"] and "8 files found but not yet analysed" in data["incomplete"]
    assert data["counts"]["pending"]["value"] == 8
    html = tmp_path / "report.html"
    runner.invoke(main, ["report", "--case", str(case), "--format", "html", "--out", str(html)])
    first_page = html.read_text().split("</header>")[0]
    assert "This case is incomplete" in first_page

    monkeypatch.setattr(CaseStore, "record", real_record)
    again = runner.invoke(main, ["scan", str(evidence), "--case", str(case), *SCAN])
    assert again.exit_code == 0, again.output
    summary = json.loads(
        runner.invoke(main, ["case", "summary", "--case", str(case), "--json"]).output
    )
    assert summary["pending"] == 0 and summary["files"] == 12 and summary["images"] == 12
    complete = tmp_path / "complete.json"
    out = runner.invoke(
        main, ["report", "--case", str(case), "--format", "json", "--out", str(complete)]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(complete.read_text())["incomplete"] is None


def test_a_scan_killed_without_a_word_is_marked_interrupted_by_the_next(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path, 2)
    case_dir = tmp_path / "case"
    with open_case(case_dir, None, create=True) as case:  # a scan that never said goodbye
        case.store.begin_scan(
            started_at="2026-01-01T00:00:00+00:00",
            examiner=None,
            host="h",
            timezone="UTC",
            tool_version="0",
            sources_json="[]",
        )
    result = CliRunner().invoke(main, ["scan", str(evidence), "--case", str(case_dir), *SCAN])
    assert result.exit_code == 0, result.output
    assert [a for a, _ in _events(case_dir) if a.startswith("scan_")] == [
        "scan_interrupted",
        "scan_started",
        "scan_finished",
    ]
    with sqlite3.connect(case_dir / "case.sqlite") as db:
        assert db.execute("SELECT status FROM scans ORDER BY id").fetchall() == [
            ("interrupted",),
            ("completed",),
        ]
