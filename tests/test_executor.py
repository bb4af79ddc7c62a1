"""No file stops a scan, not even one that kills or hangs its worker process.

The executor is driven with small work functions that die (``os._exit``, as the OOM killer's
SIGKILL would look to the parent) or hang on chosen items; a real scan is driven by killing one
of its worker processes from outside while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consentry.execution import ProcessExecutor
from consentry.records.items import WorkItem, WorkResult
from consentry.records.locations import LocationRef
from consentry.records.problems import Code
from consentry.scan.executor import analysis_mapper
from consentry.scan.worker import internal_error_result, process

from .synthetic import write_jpeg

DIE_ON = 3
HANG_ON = 5


def _work_that_dies(item: WorkItem) -> WorkResult:
    if item.location_id == DIE_ON:
        os._exit(137)  # the process is gone, as after SIGKILL
    return WorkResult(item.location_id)


def _work_that_hangs(item: WorkItem) -> WorkResult:
    if item.location_id == HANG_ON:
        time.sleep(3600)
    return WorkResult(item.location_id)


def _work_that_raises(item: WorkItem) -> WorkResult:
    raise RuntimeError("a bug")


def _items(n: int) -> list[WorkItem]:
    return [WorkItem(i, LocationRef(b"/nonexistent/%d" % i), f"{i}") for i in range(1, n + 1)]


def _codes(results: list[WorkResult]) -> dict[int, list[str]]:
    return {r.location_id: [p.code.value for p in r.location_problems] for r in results}


def test_a_worker_that_dies_costs_only_its_own_item() -> None:
    executor = ProcessExecutor(2)
    try:
        results = list(analysis_mapper(executor, None, work=_work_that_dies)(_items(20)))
    finally:
        executor.close()
    codes = _codes(results)
    assert sorted(codes) == list(range(1, 21))  # every item came back exactly once
    assert len(results) == 20
    assert codes[DIE_ON] == [Code.WORKER_LOST.value]
    assert all(not c for i, c in codes.items() if i != DIE_ON)  # innocent items: retried, fine
    assert executor.retried >= 1


def test_a_worker_that_hangs_is_stopped_and_the_item_recorded() -> None:
    executor = ProcessExecutor(2, stall_seconds=3, item_seconds=3)
    started = time.monotonic()
    try:
        results = list(analysis_mapper(executor, None, work=_work_that_hangs)(_items(12)))
    finally:
        executor.close()
    assert time.monotonic() - started < 60
    codes = _codes(results)
    assert sorted(codes) == list(range(1, 13))
    assert codes[HANG_ON] == [Code.ITEM_TIMEOUT.value]
    assert all(not c for i, c in codes.items() if i != HANG_ON)


def test_an_exception_in_a_worker_becomes_the_items_problem() -> None:
    executor = ProcessExecutor(2)
    try:
        results = list(analysis_mapper(executor, None, work=_work_that_raises)(_items(3)))
    finally:
        executor.close()
    assert sorted(_codes(results).values()) == [[Code.INTERNAL_ERROR.value]] * 3


def test_process_turns_an_unexpected_exception_into_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """worker.process catches what no one foresaw (issue: a TypeError from a decoder killed
    the pool); the hashes found before it are kept."""
    from consentry.scan import worker

    def boom(*_: object, **__: object) -> None:
        raise TypeError("Missing dimensions")

    monkeypatch.setattr(worker, "_analyse_image", boom)
    path = tmp_path / "a.jpg"
    write_jpeg(path, seed=1, width=64, height=48)
    result = process(WorkItem(1, LocationRef(os.fsencode(path)), "a.jpg"))
    assert [p.code for p in result.location_problems] == [Code.INTERNAL_ERROR]
    assert "TypeError" in result.location_problems[0].message
    assert result.content is not None and len(result.content.sha256) == 64
    bare = internal_error_result(WorkItem(2, LocationRef(b"x"), "x"), ValueError("v"))
    assert bare.content is None


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


@pytest.mark.slow
def test_kill_9_of_one_worker_does_not_hang_or_lose_the_scan(tmp_path: Path) -> None:
    """As the OOM killer would: SIGKILL one worker of a running scan. The scan ends by itself,
    exit 0, nothing pending, every file recorded once, none as lost (they were innocent)."""
    if not Path("/proc/self/task").exists():
        pytest.skip("needs /proc to find the worker processes")
    evidence = tmp_path / "evidence"
    for i in range(150):
        write_jpeg(evidence / f"{i:03d}.jpg", seed=i, width=320, height=240)
    case = tmp_path / "case"
    script = Path(sys.executable).with_name("consentry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "consentry.cli.main"]
    scan = subprocess.Popen(
        [*command, "scan", str(evidence), "--case", str(case), "--workers", "2", "-q"]
        + ["--skip", "faces,provenance", "--no-links"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and scan.poll() is None:
        # the pool's workers are children of the scan (besides multiprocessing's tracker)
        workers = [
            c
            for c in _children(scan.pid)
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        if len(workers) >= 2 and (case / "case.sqlite").exists():
            time.sleep(1.5)  # let it get going: items are out to both workers
            try:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
            except ProcessLookupError:
                continue
        time.sleep(0.2)
    out, errors = scan.communicate(timeout=300)
    assert killed is not None, "the scan ended before a worker could be killed"
    assert scan.returncode == 0, errors
    assert "Traceback" not in errors
    import sqlite3

    with sqlite3.connect(case / "case.sqlite") as db:
        states = db.execute("SELECT state, count(*) FROM locations GROUP BY state").fetchall()
        lost = db.execute(
            "SELECT count(*) FROM location_problems WHERE code IN ('worker_lost', 'item_timeout')"
        ).fetchone()
        hashed = db.execute("SELECT count(DISTINCT sha256) FROM locations").fetchone()
    assert states == [("done", 150)]
    assert lost == (0,)
    assert hashed == (150,)
    summary = subprocess.run(
        [*command, "case", "summary", "--case", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(summary.stdout)["files"] == 150
