"""The exchange formats through the examiner's command, ``consentry report --format ...``, on a
real scanned case: each output is checked with the format's own reader or validator, and the
notices it writes can be marked sent and listed with ``consentry notice``."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from consentry.cli.main import main
from consentry.reports import vics

from .conftest import RunCli
from .exchange_case import LFW, SKIP_REASON, build_case
from .test_reports_exchange import image_contents, rows

pytestmark = pytest.mark.skipif(not LFW.is_dir(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_case(tmp_path_factory.mktemp("exchange-cli"))


@pytest.fixture()
def case(scanned: Path, tmp_path: Path) -> Path:
    shutil.copytree(scanned, tmp_path / "case")
    return tmp_path / "case"


def report(case: Path, fmt: str, out: Path, *extra: str) -> Result:
    args = ["report", "--case", case, "--format", fmt, "--out", out, "--reverify", "stat", *extra]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_vics_and_case_uco_through_the_cli(case: Path, tmp_path: Path) -> None:
    result = report(case, "vics", tmp_path / "case.vics.json")
    assert result.exit_code == 0, result.output
    back = vics.read_vics(tmp_path / "case.vics.json")
    assert {m.alt_hash("SHA256") for m in back.media} == set(image_contents(case))

    result = report(case, "case", tmp_path / "case.jsonld")
    assert result.exit_code == 0, result.output
    # the writer's output is validated with case_validate in test_reports_exchange.py; here:
    # the command wrote that writer's document, and recorded its hash
    graph = json.loads((tmp_path / "case.jsonld").read_text())
    files = [n for n in graph["@graph"] if n["@type"] == "observable:File"]
    assert len(files) == len(rows(case, "SELECT path FROM locations"))
    digest = hashlib.sha256((tmp_path / "case.jsonld").read_bytes()).hexdigest()
    assert digest in (tmp_path / "case.jsonld.sha256").read_text()


def test_hashpack_through_the_installed_command(
    case: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    out = tmp_path / "e1"
    result = run_cli("report", "--case", case, "--format", "hashpack", "--person", "E1",
                     "--out", out, "--reverify", "none")  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["person"] == "E1" and manifest["counts"]["unique_sha256"] == 4
    for entry in manifest["files"]:
        assert hashlib.sha256((out / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]

    missing = run_cli("report", "--case", case, "--format", "hashpack", "--out", tmp_path / "x")
    assert missing.returncode == 2 and "--person" in missing.stderr


def test_notice_through_the_cli_is_recorded_and_can_be_sent(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "notices"
    result = report(
        case, "notice", out, "--person", "E1", "--url", "https://pics.example/a",
        "--contact-name", "A. Advocate", "--contact-email", "a@example.org",
        "--signature", "A. Advocate",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (notice_file,) = out.glob("notice-*-pics.example.md")
    listed = CliRunner().invoke(main, ["notice", "list", "--case", str(case), "--json"])
    assert listed.exit_code == 0, listed.output
    (state,) = json.loads(listed.output)["notices"]
    assert state["status"] == "pending" and state["file"] == notice_file.name
    assert state["notice_sha256"] == hashlib.sha256(notice_file.read_bytes()).hexdigest()
    sent = CliRunner().invoke(main, ["notice", "sent", "--case", str(case), state["notice_id"]])
    assert sent.exit_code == 0 and "removal due by" in sent.output, sent.output
