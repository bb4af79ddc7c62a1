"""``consentry traces`` as an examiner runs it: scan a folder with browser profiles, read the
traces (table and JSON), the services list (show, write, a broken one), and the errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from .browser_profiles import Download, Visit, chrome_profile, windows_path
from .conftest import RunCli
from .synthetic import write_jpeg

T0 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli) -> Path:
    tmp_path = tmp_path_factory.mktemp("traces-cli")
    evidence = tmp_path / "evidence"
    pic = write_jpeg(evidence / "Users/alice/Downloads/result.jpg", seed=41)
    chrome_profile(
        evidence,
        visits=[Visit("https://clothoff.io/", T0, "home"), Visit("https://example.org/", T0)],
        downloads=[
            Download("https://cdn.example.net/1.jpg", windows_path("alice", "Downloads",
                     "result.jpg"), T0 + dt.timedelta(minutes=2), pic.stat().st_size,
                     tab_url="https://clothoff.io/result")
        ],
        wal=True,
    )  # fmt: skip
    bad = evidence / "Users/bob/AppData/Local/Microsoft/Edge/User Data/Default/History"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    case = tmp_path / "case"
    done = run_cli(
        "scan", evidence, "--case", case, "--skip", "explicit,faces,provenance", "--no-links",
        "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return case


def test_traces_table_json_and_list(case: Path, run_cli: RunCli) -> None:
    done = run_cli("traces", "--case", case)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "2 trace(s): 2 naming a listed service, 1 download(s) found in the case" in text
    assert "no local time is given" in text
    flat = "".join(done.stdout.split())  # a long path may fold on a narrow terminal
    assert "unreadable" in text and "Microsoft/Edge/UserData/Default/History" in flat
    done = run_cli("traces", "--case", case, "--json")
    data = json.loads(done.stdout)
    assert data["services"]["source"] == "shipped"
    kinds = sorted((t["kind"], t["service_id"], t["match_reason"]) for t in data["traces"])
    assert kinds == [("download", "clothoff", "path"), ("visit", "clothoff", None)]
    assert all(t["local_offset_min"] is None for t in data["traces"])
    (download,) = [t for t in data["traces"] if t["kind"] == "download"]
    assert download["matched_path"].endswith("Users/alice/Downloads/result.jpg")
    assert len(data["unreadable_databases"]) == 1
    listed = json.loads(run_cli("traces", "list", "--case", case, "--json").stdout)
    assert [t["id"] for t in listed["traces"]] == [t["id"] for t in data["traces"]]
    timeline = run_cli("traces", "timeline", "--case", case, "--person", "E9")
    assert timeline.returncode == 2 and "no person E9" in timeline.stderr


def test_services_show_write_and_broken(tmp_path: Path, case: Path, run_cli: RunCli) -> None:
    done = run_cli("traces", "services", "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["origin"] == "shipped" and {s["id"] for s in shown["services"]} >= {"clothoff"}
    target = tmp_path / "mine.yaml"
    assert run_cli("traces", "services", "--write-default", target).returncode == 0
    assert "registrable domain" in target.read_text()
    again = run_cli("traces", "services", "--write-default", target)
    assert again.returncode == 2 and "exists" in again.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("services:\n - {id: x, name: X, domains: [x.example]}\n")
    bad = run_cli("traces", "--case", case, "--services", broken)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "broken.yaml: entry 1 (x)" in bad.stderr
    usage = run_cli("traces")
    assert usage.returncode == 2 and "--case" in usage.stderr
    helped = run_cli("traces", "--help")
    assert "Examples:" in helped.stdout and "--write-default" in helped.stdout
