"""`consentry hash`: text, pytx and JSON output, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main

from .synthetic import write_jpeg


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    return write_jpeg(tmp_path / "p.jpg", seed=11, width=300, height=200)


def test_formats(photo: Path) -> None:
    runner = CliRunner()
    js = json.loads(runner.invoke(main, ["hash", str(photo), "--format", "json"]).output)
    assert len(js["pdq"]) == 64 and len(js["md5"]) == 32 and len(js["sha256"]) == 64
    assert js["pdq_quality"] >= 50
    pytx = runner.invoke(main, ["hash", str(photo), "--format", "pytx"])
    assert pytx.output == f"pdq {js['pdq']}\n"
    text = runner.invoke(main, ["hash", str(photo)])
    assert js["sha256"] in text.output and f"quality {js['pdq_quality']}" in text.output


def test_bad_file_reported_and_exit_1(tmp_path: Path, photo: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    result = CliRunner().invoke(main, ["hash", str(photo), str(bad), "--format", "pytx"])
    assert result.exit_code == 1
    assert result.output.count("pdq ") == 1
    # the scan's code for this condition (text named .jpg), not a second one of its own
    assert "wrong_extension" in result.output


def test_one_broken_file_does_not_stop_the_others(
    tmp_path: Path, photo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decoder raising something nobody expected (a TIFF with missing dimensions raised
    TypeError) is that file's problem; the next file is still hashed; a missing file too."""
    from consentry.scan import worker

    real = worker._analyse_image

    def flaky(data: bytes, *args: object) -> None:
        if data.startswith(b"II*"):
            raise TypeError("Missing dimensions")
        real(data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(worker, "_analyse_image", flaky)
    tif = tmp_path / "a.tif"
    tif.write_bytes(b"II*\x00" + b"\x00" * 60)
    missing = tmp_path / "gone.jpg"
    result = CliRunner().invoke(main, ["hash", str(tif), str(missing), str(photo)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "internal_error" in result.output and "missing" in result.output
    assert result.output.count("sha256") == 1  # the photo, hashed after both failures


@pytest.mark.parametrize(
    ("content", "name"), [(b"plain text", "notes.jpg"), (b"\x00\x01garbage" * 9, "x.jpg")]
)
def test_hash_and_scan_give_one_code_per_condition(
    tmp_path: Path, content: bytes, name: str
) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / name).write_bytes(content)
    runner = CliRunner()
    hashed = runner.invoke(main, ["hash", str(evidence / name), "--format", "json"])
    code = json.loads(hashed.output.splitlines()[-1])["error"]
    case = tmp_path / "case"
    scan = ["scan", str(evidence), "--case", str(case), "-q", "--workers", "1", "--no-links"]
    assert runner.invoke(main, [*scan, "--skip", "explicit,faces,provenance"]).exit_code == 0
    problems = json.loads(
        runner.invoke(main, ["case", "problems", "--case", str(case), "--json"]).output
    )
    assert code in {p["code"] for p in problems["problems"]}, (code, problems)


def test_help_teaches_by_example() -> None:
    for cmd in (["scan"], ["hash"], ["case", "summary"], ["audit", "verify"]):
        result = CliRunner().invoke(main, [*cmd, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output, cmd
