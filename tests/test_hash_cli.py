"""`consentry hash`: text, pytx and JSON output, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli import main

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
    assert "unrecognized_image" in result.output


def test_help_teaches_by_example() -> None:
    for cmd in (["scan"], ["hash"], ["case", "summary"], ["audit", "verify"]):
        result = CliRunner().invoke(main, [*cmd, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output, cmd
