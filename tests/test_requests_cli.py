"""``consentry requests``: add, list (table, --overdue, --json), update, show and policy, as the
demo and an examiner call them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from consentry.cli.main import main
from consentry.services.audit import audit_events

from .test_requests import new_case


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_add_list_overdue_json_update_show(tmp_path: Path) -> None:
    case = str(tmp_path / "case")
    ref = new_case(tmp_path / "case")
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    line = run(
        *("requests", "add", "--case", case, "--person", "E1", "--kind", "interim_measure"),
        *("--asked-by", "Victim (E1)", "--asked-at", ten_days_ago, "--examiner", "A. Examiner"),
    )
    assert line.startswith("R0001 interim_measure for E1: requested; next: acknowledge by ")
    assert "(OVERDUE)" in line
    run(
        *("requests", "add", "--case", case, "--person", "E2", "--kind", "disciplinary_review"),
        *("--asked-by", "Advocate for E2", "--owner", "Case manager", "--detail", "conduct"),
    )
    table = run("requests", "list", "--case", case)
    rows = [r for r in table.splitlines() if "R000" in r]
    assert len(rows) == 2 and "R0001" in rows[0] and "OVERDUE" in rows[0]
    assert "OVERDUE" not in rows[1] and "Case manager" in rows[1]

    overdue = json.loads(run("requests", "list", "--case", case, "--overdue", "--json"))
    assert [r["code"] for r in overdue["requests"]] == ["R0001"]
    assert overdue["requests"][0]["overdue"] is True
    assert overdue["requests"][0]["person_name"] == "Avery Lane"
    e2 = json.loads(run("requests", "list", "--case", case, "--person", "E2", "--json"))
    assert [r["code"] for r in e2["requests"]] == ["R0002"]

    updated = run(
        *("requests", "update", "--case", case, "R0001", "--status", "acknowledged"),
        *("--owner", "Registry", "--note", "called the victim"),
    )
    assert updated.startswith("R0001 interim_measure for E1: acknowledged; next: implement by ")
    shown = run("requests", "show", "--case", case, "R0001")
    assert "called the victim" in shown and "Registry" in shown
    detail = json.loads(run("requests", "show", "--case", case, "R0001", "--json"))
    assert [e["status"] for e in detail["events"]] == ["requested", "acknowledged"]
    actions = [e.action for e in audit_events(ref)]
    assert actions.count("request_created") == 2 and actions.count("request_updated") == 1

    # a clock moved back to the day of the request: nothing is overdue yet
    back = json.loads(
        run("requests", "list", "--case", case, "--overdue", "--json", "--as-of", ten_days_ago)
    )
    assert back["requests"] == []


def test_misuse_is_one_line_exit_2(tmp_path: Path) -> None:
    case = str(tmp_path / "case")
    new_case(tmp_path / "case")
    for args, words in [
        (("--person", "E9", "--kind", "other"), "error: no person E9 in this case"),
        (("--person", "E1", "--kind", "lunch"), "error: unknown kind 'lunch'"),
        (("--person", "E1", "--kind", "other", "--asked-at", "soon"), "'soon' is not a date"),
    ]:
        output = run("requests", "add", "--case", case, "--asked-by", "V", *args, code=2)
        assert words in output and output.count("\n") == 1
    output = run("requests", "update", "--case", case, "R0042", "--status", "declined", code=2)
    assert output == "error: no request R0042 here\n"


def test_policy_shows_source_and_writes_default_once(tmp_path: Path) -> None:
    case = tmp_path / "case"
    new_case(case)
    shown = run("requests", "policy", "--case", str(case))
    assert (
        shown.startswith("policy: default")
        and "interim_measure: acknowledge 2, implement 5" in shown
    )
    written = run("requests", "policy", "--case", str(case), "--write-default")
    assert "policy.yaml" in written and (case / "policy.yaml").is_file()
    again = run("requests", "policy", "--case", str(case), "--write-default", code=2)
    assert "already exists" in again
    (case / "policy.yaml").write_text("holidays: []\ntakedown: {acknowlege: 1}\n")
    bad = run("requests", "policy", "--case", str(case), code=2)
    assert (
        bad == f"error: {case / 'policy.yaml'}: line 2: takedown.acknowlege: unknown step "
        "(steps: acknowledge, offer, implement)\n"
    )
    assert "Examples" in run("requests", "--help")
    assert "--write-default" in run("requests", "policy", "--help")
