"""Bad input never stops a scan.

The corpus (tests/corpus.py) holds every kind of broken, hostile or odd evidence we know of. It
is scanned twice: by the real command in a subprocess with 2 workers, and in-process with 1
worker while the reader refuses one file (tests run as root in CI, where chmod 000 refuses
nothing). Each run must exit 0 and leave exactly the manifest in the store: every location,
exactly its problem codes, and what was learnt of its content.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import consentry.media.reader
from consentry.analyzers.pdq import MIN_QUALITY, hamming
from consentry.cli.main import main
from consentry.media.reader import open_readonly
from consentry.records.problems import SEVERITY, Code, ItemError, Severity

from .corpus import (
    EXPECTED,
    ROTATED_STORED_SIZE,
    SAME_PICTURE_BITS,
    SEAM_UNREADABLE,
    SEAM_UNREADABLE_WHEN_READ,
    Expected,
    build_corpus,
)
from .store_dump import dump_items
from .synthetic import write_jpeg

pytestmark = pytest.mark.slow

RunCli = Callable[..., subprocess.CompletedProcess[str]]

SCAN_TIMEOUT_S = 120
SUBPROCESS_RUN = "subprocess-2-workers"
IN_PROCESS_RUN = "in-process-1-worker"


@dataclass
class Stored:
    """What the case store says about one location."""

    state: str
    codes: list[str]  # sorted: the location's problem codes and its content's
    content: dict[str, Any] | None


@dataclass
class ScanRun:
    name: str
    source: Path
    case: Path
    exit_code: int
    output: str
    expected: dict[str, Expected]
    stored: dict[str, Stored]


def read_store(case: Path) -> dict[str, Stored]:
    """Every location of the case by rel_path, straight from the SQLite tables."""
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        db.row_factory = sqlite3.Row
        contents = {r["sha256"]: dict(r) for r in db.execute("SELECT * FROM contents")}
        content_codes: dict[str, list[str]] = {}
        for sha, code in db.execute("SELECT sha256, code FROM content_problems"):
            content_codes.setdefault(sha, []).append(code)
        location_codes: dict[int, list[str]] = {}
        for loc, code in db.execute("SELECT location_id, code FROM location_problems"):
            location_codes.setdefault(loc, []).append(code)
        stored: dict[str, Stored] = {}
        for r in db.execute("SELECT id, rel_path, state, sha256 FROM locations"):
            assert r["rel_path"] not in stored, f"two locations at {r['rel_path']}"
            codes = location_codes.get(r["id"], []) + content_codes.get(r["sha256"], [])
            stored[r["rel_path"]] = Stored(r["state"], sorted(codes), contents.get(r["sha256"]))
    return stored


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Turn a hang in this process into a TimeoutError (SIGALRM: POSIX, main thread)."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _refusing_open(real_open: Callable[..., int]) -> Callable[..., int]:
    """os.open that refuses SEAM_UNREADABLE as the kernel refuses a file without read permission."""
    refused = b"/" + SEAM_UNREADABLE.encode()

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fsencode(path).endswith(refused):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    return open_


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("evidence")
    return root, build_corpus(root)


@pytest.fixture(scope="module", params=[SUBPROCESS_RUN, IN_PROCESS_RUN])
def scan_run(
    request: pytest.FixtureRequest,
    corpus: tuple[Path, dict[str, Expected]],
    run_cli: RunCli,
    tmp_path_factory: pytest.TempPathFactory,
) -> ScanRun:
    source, manifest = corpus
    case = tmp_path_factory.mktemp("case") / "case"
    expected = dict(manifest)
    if request.param == SUBPROCESS_RUN:
        result = run_cli(
            "scan", source, "--case", case, "--workers", "2", "-q", timeout=SCAN_TIMEOUT_S
        )
        exit_code, output = result.returncode, result.stdout + result.stderr
        expected[SEAM_UNREADABLE] = SEAM_UNREADABLE_WHEN_READ
    else:
        args = ["scan", str(source), "--case", str(case), "--workers", "1", "-q"]
        with pytest.MonkeyPatch.context() as mp, deadline(SCAN_TIMEOUT_S):
            mp.setattr(consentry.media.reader.os, "open", _refusing_open(os.open))
            invoked = CliRunner().invoke(main, args)
        if invoked.exception is not None and not isinstance(invoked.exception, SystemExit):
            raise invoked.exception
        exit_code, output = invoked.exit_code, invoked.output
    return ScanRun(request.param, source, case, exit_code, output, expected, read_store(case))


# -- the scan goes on, and records what it found ------------------------------------------------


def test_scan_exits_0(scan_run: ScanRun) -> None:
    assert scan_run.exit_code == 0, scan_run.output
    assert "Traceback" not in scan_run.output


def test_store_holds_exactly_the_manifest_locations(scan_run: ScanRun) -> None:
    stored, expected = set(scan_run.stored), set(scan_run.expected)
    assert stored - expected == set(), "locations the manifest does not know"
    assert expected - stored == set(), "locations the scan did not record"


def _manifest_params() -> list[Any]:
    kinds = [want.kind for want in EXPECTED.values()]
    assert len(set(kinds)) == len(kinds), "each manifest entry needs its own kind (test id)"
    return [pytest.param(path, id=want.kind) for path, want in EXPECTED.items()]


@pytest.mark.parametrize("path", _manifest_params())
def test_location_has_exactly_its_codes(scan_run: ScanRun, path: str) -> None:
    want, got = scan_run.expected[path], scan_run.stored.get(path)
    assert got is not None, f"{path} was not recorded"
    assert got.state == "done"
    assert got.codes == sorted(want.codes)
    if want.mime is None:
        assert got.content is None, "never read, yet content was recorded"
        return
    content = got.content
    assert content is not None, "content not recorded"
    assert content["mime"] == want.mime
    if want.image_format is None:
        assert not content["is_image"] and content["pdq"] is None
        return
    assert content["is_image"] and content["image_format"] == want.image_format
    assert len(content["pdq"]) == 64
    assert (content["pdq_quality"] < MIN_QUALITY) == ("low_pdq_quality" in want.codes)
    assert len(content["pdq_dihedral"].split(",")) == 8
    for field in ("color_mode", "frames", "orientation"):
        if getattr(want, field) is not None:
            assert content[field] == getattr(want, field), field


def test_exif_rotation_is_applied_before_pdq(scan_run: ScanRun) -> None:
    rotated = scan_run.stored["modes/rotated.jpg"].content
    upright = scan_run.stored["modes/upright.jpg"].content
    assert rotated is not None and upright is not None
    # dimensions are the file's own; only the analysis sees the picture turned upright
    assert (rotated["width"], rotated["height"]) == ROTATED_STORED_SIZE
    assert (upright["width"], upright["height"]) == ROTATED_STORED_SIZE[::-1]
    assert rotated["orientation"] == 6
    # were orientation ignored, these would be hashes of pictures 90 degrees apart (~128 bits)
    assert hamming(rotated["pdq"], upright["pdq"]) <= SAME_PICTURE_BITS


def test_summary_and_problem_listing_match_the_manifest(scan_run: ScanRun, run_cli: RunCli) -> None:
    summary = json.loads(run_cli("case", "summary", "--case", scan_run.case, "--json").stdout)
    per_code = Counter(code for want in scan_run.expected.values() for code in want.codes)

    def severity(code: str) -> Severity:
        return SEVERITY.get(Code(code), Severity.ERROR)

    assert summary["errors"]["by_code"] == {
        c: n for c, n in sorted(per_code.items()) if severity(c) is Severity.ERROR
    }
    assert summary["warnings"]["by_code"] == {
        c: n for c, n in sorted(per_code.items()) if severity(c) is Severity.WARNING
    }
    assert summary["files"] == len(scan_run.expected)
    assert summary["images"] == sum(1 for w in scan_run.expected.values() if w.image_format)
    assert summary["pending"] == 0

    listing = json.loads(run_cli("case", "problems", "--case", scan_run.case, "--json").stdout)
    assert sorted((row["path"], row["code"]) for row in listing["problems"]) == sorted(
        (f"{scan_run.source}/{path}", code)
        for path, want in scan_run.expected.items()
        for code in want.codes
    )


def test_second_scan_adds_nothing(scan_run: ScanRun, run_cli: RunCli) -> None:
    before = dump_items(scan_run.case)
    args = ("scan", scan_run.source, "--case", scan_run.case, "--workers", "2", "-q")
    result = run_cli(*args, timeout=SCAN_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert dump_items(scan_run.case) == before
    with contextlib.closing(sqlite3.connect(scan_run.case / "case.sqlite")) as db:
        (summary_json,) = db.execute("SELECT summary_json FROM scans ORDER BY id DESC").fetchone()
    summary = json.loads(summary_json)
    assert (summary["new_locations"], summary["analysed"]) == (0, 0)


# -- unreadable files, for real and at the reader ---------------------------------------------


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root reads a file whatever its mode (the seam run covers it)"
)
def test_file_without_read_permission_is_unreadable(tmp_path: Path, run_cli: RunCli) -> None:
    source = tmp_path / "evidence"
    write_jpeg(source / "fine.jpg", seed=40)
    locked = write_jpeg(source / "locked.jpg", seed=41)
    locked.chmod(0)
    try:
        result = run_cli("scan", source, "--case", tmp_path / "case", "--workers", "1", "-q")
        stored = read_store(tmp_path / "case")
    finally:
        locked.chmod(0o644)
    assert result.returncode == 0, result.stderr
    assert stored["locked.jpg"].codes == ["unreadable"] and stored["locked.jpg"].content is None
    fine = stored["fine.jpg"]
    assert fine.codes == [] and fine.content is not None and fine.content["is_image"]


def test_reader_refuses_a_fifo_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with deadline(10), pytest.raises(ItemError) as refused:
        open_readonly(os.fsencode(fifo))
    assert refused.value.code is Code.NOT_REGULAR_FILE


# -- misuse: exit status and a one-line reason -------------------------------------------------


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line reason, got:\n{stderr}"
    return lines[0]


def test_missing_source_is_misuse(tmp_path: Path, run_cli: RunCli) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", tmp_path / "no-such-folder", "--case", case, "-q")
    assert result.returncode == 2
    reason = _one_line(result.stderr)
    assert "does not exist" in reason and "no-such-folder" in reason
    assert not case.exists(), "misuse must not create the case"


@pytest.mark.parametrize("kind", ["file", "foreign_folder"])
def test_unusable_case_folder(tmp_path: Path, run_cli: RunCli, kind: str) -> None:
    source = tmp_path / "evidence"
    write_jpeg(source / "a.jpg", seed=42)
    case = tmp_path / "case"
    if kind == "file":
        case.write_bytes(b"not a case folder\n")
    else:
        case.mkdir()
        (case / "holiday.txt").write_text("someone else's folder\n")
    before = sorted(p.name for p in case.iterdir()) if case.is_dir() else case.read_bytes()
    result = run_cli("scan", source, "--case", case, "-q")
    assert result.returncode == 3
    assert "case" in _one_line(result.stderr)
    after = sorted(p.name for p in case.iterdir()) if case.is_dir() else case.read_bytes()
    assert after == before, "an unusable case folder must be left as it was"
