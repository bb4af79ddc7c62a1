"""The audit log is hash-chained: edits, deletions, reordering and truncation are all caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.audit import GENESIS, StoredEvent, event_hash, verify_chain
from consentry.cli import EXIT_TAMPERED, main

from .synthetic import write_jpeg


def _chain(n: int) -> list[StoredEvent]:
    events, prev = [], GENESIS
    for seq in range(1, n + 1):
        ts, payload = f"2026-11-26T00:00:0{seq}+00:00", f'{{"n":{seq}}}'
        h = event_hash(ts, f"action{seq}", "examiner", payload, prev)
        events.append(StoredEvent(seq, ts, f"action{seq}", "examiner", payload, prev, h))
        prev = h
    return events


def test_intact_chain_has_no_findings() -> None:
    events = _chain(5)
    assert verify_chain(events, (5, events[-1].hash)) == []


def test_edit_is_named() -> None:
    events = _chain(5)
    e = events[2]
    events[2] = StoredEvent(e.seq, e.ts, e.action, "someone else", e.payload, e.prev_hash, e.hash)
    findings = verify_chain(events, (5, events[-1].hash))
    assert [(f.kind, f.seq) for f in findings] == [("edited", 3)]


def test_deletion_is_named() -> None:
    events = _chain(5)
    del events[1]
    findings = verify_chain(events, (5, events[-1].hash))
    assert [(f.kind, f.seq) for f in findings] == [("deleted", 3)]
    assert "after event 1 and before event 3" in findings[0].message


def test_reorder_is_named() -> None:
    events = _chain(5)
    a, b = events[1], events[2]
    # swap positions (and seq numbers) of events 2 and 3
    events[1] = StoredEvent(2, b.ts, b.action, b.actor, b.payload, b.prev_hash, b.hash)
    events[2] = StoredEvent(3, a.ts, a.action, a.actor, a.payload, a.prev_hash, a.hash)
    kinds = {f.kind for f in verify_chain(events, (5, events[-1].hash))}
    assert kinds == {"reordered"}


def test_truncation_is_caught_by_the_head() -> None:
    events = _chain(5)
    head = (5, events[-1].hash)
    findings = verify_chain(events[:3], head)
    assert [(f.kind, f.seq) for f in findings] == [("truncated", 3)]


def test_edit_and_rehash_breaks_the_next_link() -> None:
    events = _chain(4)
    e = events[1]
    forged = event_hash(e.ts, e.action, e.actor, '{"n":99}', e.prev_hash)
    events[1] = StoredEvent(e.seq, e.ts, e.action, e.actor, '{"n":99}', e.prev_hash, forged)
    findings = verify_chain(events, (4, events[-1].hash))
    assert [(f.kind, f.seq) for f in findings] == [("deleted", 3)]


# --- end to end, through the CLI and the real store ---------------------------------------


@pytest.fixture()
def scanned_case(tmp_path: Path) -> Path:
    evidence = tmp_path / "evidence"
    for i in range(3):
        write_jpeg(evidence / f"img{i}.jpg", seed=i)
    case = tmp_path / "case"
    runner = CliRunner()
    for _ in range(2):  # two scans: case_created + 2 x (scan_started, scan_finished)
        result = runner.invoke(
            main,
            [
                "scan",
                str(evidence),
                "--case",
                str(case),
                "-q",
                "--workers",
                "1",
                "--examiner",
                "T. Ester",
            ],
        )
        assert result.exit_code == 0, result.output
    return case


def _verify(case: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify", "--case", str(case)])
    return result.exit_code, result.output


def _sql(case: Path, *statements: str) -> None:
    with sqlite3.connect(case / "case.sqlite") as db:
        for s in statements:
            db.execute(s)


def test_cli_verify_ok_and_events_recorded(scanned_case: Path) -> None:
    code, output = _verify(scanned_case)
    assert code == 0 and "OK: 5 audit events" in output
    show = CliRunner().invoke(main, ["audit", "show", "--case", str(scanned_case), "--json"])
    assert '"scan_started"' in show.output and '"T. Ester"' in show.output
    assert '"timezone"' in show.output and '"tool"' in show.output


def test_cli_detects_edit(scanned_case: Path) -> None:
    _sql(scanned_case, "UPDATE audit_events SET actor='Mallory' WHERE seq=2")
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "event 2 (scan_started) was edited" in output


def test_cli_detects_deletion(scanned_case: Path) -> None:
    _sql(scanned_case, "DELETE FROM audit_events WHERE seq=3")
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "deleted after event 2 and before event 4" in output


def test_cli_detects_reorder(scanned_case: Path) -> None:
    _sql(
        scanned_case,
        "UPDATE audit_events SET seq=100 WHERE seq=2",
        "UPDATE audit_events SET seq=2 WHERE seq=3",
        "UPDATE audit_events SET seq=3 WHERE seq=100",
    )
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "(reordered) event 2" in output


def test_cli_detects_truncation(scanned_case: Path) -> None:
    _sql(scanned_case, "DELETE FROM audit_events WHERE seq=5")
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "deleted after event 4" in output
