"""A scan killed with SIGKILL at any moment and re-run ends with exactly the uninterrupted store."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from .store_dump import count_rows, dump_items
from .synthetic import photo_like, write_jpeg

pytestmark = pytest.mark.slow

N_IMAGES = 160


def _jpeg_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, 96, 72).save(buf, "JPEG", quality=85)
    return buf.getvalue()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    for i in range(N_IMAGES):
        write_jpeg(root / f"person{i % 7}" / f"img{i:03d}.jpg", seed=i, width=96, height=72)
    (root / "person0" / "copy_of_img001.jpg").write_bytes(
        (root / "person1" / "img001.jpg").read_bytes()
    )
    (root / "notes.txt").write_text("harmless text\n")
    (root / "broken.jpg").write_bytes(_jpeg_bytes(999)[:200])
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for i in range(10):
            z.writestr(f"inner/{i}.jpg", _jpeg_bytes(500 + i))
    with zipfile.ZipFile(root / "archive.zip", "w") as z:
        for i in range(25):
            z.writestr(f"a/{i}.jpg", _jpeg_bytes(400 + i))
        z.writestr("nested.zip", inner.getvalue())
    return root


def _scan_cmd(evidence: Path, case: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "consentry.cli.main",
        "scan",
        str(evidence),
        "--case",
        str(case),
        "--workers",
        "2",
        "-q",
    ]


def _run_to_end(evidence: Path, case: Path) -> None:
    result = subprocess.run(_scan_cmd(evidence, case), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr


def _done_count(case: Path) -> int:
    try:
        with sqlite3.connect(f"file:{case / 'case.sqlite'}?mode=ro", uri=True, timeout=0.1) as db:
            return int(
                db.execute("SELECT count(*) FROM locations WHERE state='done'").fetchone()[0]
            )
    except sqlite3.Error:
        return -1  # store not created yet


def _kill_when(evidence: Path, case: Path, threshold: int | None, delay_s: float = 0.0) -> int:
    """Start a scan and SIGKILL its whole process group once ``threshold`` items are done."""
    proc = subprocess.Popen(
        _scan_cmd(evidence, case),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    seen = -1
    try:
        if threshold is None:
            time.sleep(delay_s)
        else:
            while time.monotonic() < deadline and proc.poll() is None:
                seen = _done_count(case)
                if seen >= threshold:
                    break
                time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return seen


@pytest.fixture(scope="module")
def reference(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("reference") / "case"
    _run_to_end(evidence, case)
    return case


def test_reference_scan_found_everything(reference: Path) -> None:
    counts = count_rows(reference)
    # 160 + copy + notes + broken + archive.zip + 25 members + nested.zip + 10 inner members
    assert counts["locations"] == N_IMAGES + 3 + 1 + 25 + 1 + 10
    dump = dump_items(reference)
    assert all(row[7] == "done" for row in dump["locations"])


@pytest.mark.parametrize(
    "kills",
    [
        pytest.param([(None, 0.4)], id="during-startup"),
        pytest.param([(None, 1.2)], id="early-inventory-or-analysis"),
        pytest.param([(5, 0)], id="after-first-batch"),
        pytest.param([(60, 0)], id="mid-analysis"),
        pytest.param([(185, 0)], id="during-archive-members"),
        pytest.param([(30, 0), (120, 0)], id="killed-twice"),
    ],
)
def test_sigkill_then_resume_equals_uninterrupted(
    evidence: Path, reference: Path, tmp_path: Path, kills: list[tuple[int | None, float]]
) -> None:
    case = tmp_path / "case"
    total = count_rows(reference)["locations"]
    for threshold, delay in kills:
        _kill_when(evidence, case, threshold, delay)
        if threshold is not None:
            # the kill really interrupted the work: some, not all, was stored
            assert threshold <= _done_count(case) < total
    _run_to_end(evidence, case)
    assert dump_items(case) == dump_items(reference)
    assert count_rows(case) == count_rows(reference)
    verify = subprocess.run(
        [sys.executable, "-m", "consentry.cli.main", "audit", "verify", "--case", str(case)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout


def test_rerun_skips_finished_work(evidence: Path, reference: Path) -> None:
    before = dump_items(reference)
    result = subprocess.run(
        [*_scan_cmd(evidence, reference)[:-1], "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0
    assert dump_items(reference) == before
    summary = json.loads(result.stdout)
    assert summary["analysed"] == 0 and summary["new_locations"] == 0
    assert summary["files"] == count_rows(reference)["locations"]
