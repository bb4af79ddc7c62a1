"""The services a shell calls, called directly (no click): scan a tiny folder of generated
pictures, summarise the case, list its problems, write a JSON report; and what they refuse,
as a ServiceError whose code a shell maps to its answer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from consentry.services.case import CaseRef, ErrorCode, ServiceError
from consentry.services.reports import ReportOptions, ReportRequest, write_report
from consentry.services.scan import ScanProgress, ScanRequest, choose_analyzers, scan
from consentry.services.summary import list_problems, summarize

from .synthetic import write_jpeg

HASHES_ONLY = frozenset({"explicit", "faces", "provenance"})  # skipped: no model is loaded


class _Recorded(ScanProgress):
    """Every progress call, in order, as a shell would receive them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def started(self) -> None:
        self.calls.append(("started", None))

    def phase(self, name: str) -> None:
        self.calls.append(("phase", name))

    def inventory(self, files_found: int) -> None:
        self.calls.append(("inventory", files_found))

    def analysed(self, n: int) -> None:
        self.calls.append(("analysed", n))


def _evidence(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    for i in range(3):
        write_jpeg(root / f"{i}.jpg", seed=300 + i)
    whole = write_jpeg(root / "whole.jpg", seed=310).read_bytes()
    (root / "whole.jpg").unlink()
    (root / "cut.jpg").write_bytes(whole[: len(whole) // 3])  # a picture cut short
    return root


def _actions(case: Path) -> list[str]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return [a for (a,) in db.execute("SELECT action FROM audit_events ORDER BY seq")]


@pytest.fixture
def scanned(tmp_path: Path) -> tuple[CaseRef, Path]:
    evidence = _evidence(tmp_path)
    ref = CaseRef(tmp_path / "case")
    progress = _Recorded()
    result = scan(
        ScanRequest(ref, (str(evidence),), examiner="A. Examiner", workers=1, skip=HASHES_ONLY),
        progress,
    )
    assert result.case_path == ref.path.absolute()
    assert result.counts.files == 4 and result.counts.images == 3
    assert result.analysed == 4 and result.new_locations == 4 and result.workers == 1
    assert result.source_changes == ()
    # drawing starts once the case is open, before the first phase; every file is counted
    assert progress.calls[0] == ("started", None)
    assert progress.calls[1] == ("phase", "inventory")
    assert ("inventory", 4) in progress.calls
    phases = [i for i, (kind, _) in enumerate(progress.calls) if kind == "phase"]
    analysis = progress.calls[phases[1] + 1 : phases[2]]  # the analysis phase's own calls
    assert progress.calls[phases[1]] == ("phase", "analysis")
    assert sum(int(str(n)) for kind, n in analysis if kind == "analysed") == 4
    return ref, evidence


def test_scan_summary_problems_and_a_json_report_through_the_services(
    scanned: tuple[CaseRef, Path], tmp_path: Path
) -> None:
    ref, _ = scanned
    summary = summarize(ref)
    assert summary.case_path == ref.path.absolute() and summary.case_id
    assert summary.counts.files == 4 and summary.counts.unique_images == 3
    assert summary.counts.pending == 0

    problems = list_problems(ref)
    assert [(p.path.rsplit("/", 1)[-1], p.severity) for p in problems] == [("cut.jpg", "error")]
    assert summary.counts.errors.by_code == {problems[0].code: 1}

    out = tmp_path / "report.json"
    options = ReportOptions(examiner="A. Examiner", reverify="stat")
    written = write_report(ReportRequest(ref, "json", out, options))
    data = json.loads(out.read_text())
    assert data["report_id"] == written.report.report_id
    assert len(written.report.items) == 4
    assert [f.path for f in written.files] == [out]
    assert (tmp_path / "report.json.sha256").read_text().startswith(written.files[0].sha256)
    # the service wrote its own audit events, the report's last, with its number returned
    actions = _actions(ref.path)
    assert actions[:3] == ["case_created", "scan_started", "scan_finished"]
    assert actions[-1] == "report_written" and written.audit_seq == len(actions)


def test_a_report_is_refused_onto_an_existing_file_and_inside_evidence(
    scanned: tuple[CaseRef, Path], tmp_path: Path
) -> None:
    ref, evidence = scanned
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    for out in (taken, evidence / "report.json"):
        with pytest.raises(ServiceError) as refused:
            write_report(ReportRequest(ref, "json", out))
        assert refused.value.code is ErrorCode.MISUSE
    assert taken.read_text() == "{}" and not (evidence / "report.json").exists()
    assert "report_written" not in _actions(ref.path)


def test_misuse_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path)
    inside = CaseRef(evidence / "case")
    refusals = [
        ScanRequest(inside, (str(evidence),)),  # the case would be written into evidence
        ScanRequest(CaseRef(tmp_path / "c1"), (str(tmp_path / "missing"),)),
        ScanRequest(CaseRef(tmp_path / "c2"), (str(evidence),), only=frozenset({"nope"})),
        ScanRequest(
            CaseRef(tmp_path / "c3"), (str(evidence),), only=frozenset(), watermarks_in_jpeg=True
        ),
    ]
    for request in refusals:
        progress = _Recorded()
        with pytest.raises(ServiceError) as refused:
            scan(request, progress)
        assert refused.value.code is ErrorCode.MISUSE, refused.value.message
        assert progress.calls == [] and not request.case.path.exists()


def test_analyzer_choice() -> None:
    assert choose_analyzers(frozenset(), None) == frozenset()
    assert choose_analyzers(None, frozenset({"faces"})) == frozenset({"explicit", "provenance"})
    with pytest.raises(ServiceError, match="not both"):
        choose_analyzers(frozenset(), frozenset())
    with pytest.raises(ServiceError, match="unknown analyzer"):
        choose_analyzers(None, frozenset({"nope"}))


def test_a_folder_that_is_no_case_is_a_case_error(tmp_path: Path) -> None:
    for service in (summarize, list_problems):
        with pytest.raises(ServiceError) as refused:
            service(CaseRef(tmp_path))
        assert refused.value.code is ErrorCode.CASE
    with pytest.raises(ServiceError) as refused:
        write_report(ReportRequest(CaseRef(tmp_path), "json", tmp_path / "r.json"))
    assert refused.value.code is ErrorCode.CASE
