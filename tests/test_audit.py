"""The audit log is hash-chained: edits, deletions, reordering and truncation are all caught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import EXIT_TAMPERED, main
from consentry.store.audit import (
    GENESIS,
    Anchor,
    StoredEvent,
    anchor_of,
    event_hash,
    parse_anchor,
    report_statement,
    verify_chain,
    write_head,
)

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


# --- the head names the last event; an empty log is not a verified one; anchors -------------


def test_events_appended_after_the_head_are_named() -> None:
    events = _chain(5)
    findings = verify_chain(events, (3, events[2].hash))
    assert [(f.kind, f.seq) for f in findings] == [("appended", 4)]
    assert "2 event(s) after event 3" in findings[0].message


def test_a_head_with_another_events_number_is_named() -> None:
    events = _chain(5)
    findings = verify_chain(events, (5, events[2].hash))
    assert [f.kind for f in findings] == ["head_mismatch"]


def test_an_empty_log_never_verifies() -> None:
    assert [f.kind for f in verify_chain([], None)] == ["empty"]
    assert [f.kind for f in verify_chain([], (5, "a" * 64))] == ["empty"]


def test_the_log_must_start_with_the_cases_creation() -> None:
    events = _chain(3)  # starts with "action1"
    assert [f.kind for f in verify_chain(events, (3, events[-1].hash), case_id="c1")] == [
        "not_a_case_start"
    ]


def _rehashed(events: list[StoredEvent], seq: int, actor: str) -> list[StoredEvent]:
    """What someone with write access can do: change an event and re-hash everything after."""
    out, prev = [], GENESIS
    for e in events:
        who = actor if e.seq == seq else e.actor
        h = event_hash(e.ts, e.action, who, e.payload, prev)
        out.append(StoredEvent(e.seq, e.ts, e.action, who, e.payload, prev, h))
        prev = h
    return out


def test_a_rewritten_chain_verifies_inside_the_case_but_not_against_an_anchor() -> None:
    events = _chain(5)
    anchor = anchor_of(events)
    assert anchor is not None and str(anchor) == f"5:{events[-1].hash}"
    forged = _rehashed(events, 2, "Mallory")
    assert verify_chain(forged, (5, forged[-1].hash)) == []  # what the chain cannot prove
    findings = verify_chain(forged, (5, forged[-1].hash), [anchor])
    assert [(f.kind, f.seq) for f in findings] == [("anchor_mismatch", 5)]
    assert verify_chain(events, (5, events[-1].hash), [Anchor(3, events[2].hash)]) == []
    gone = verify_chain(events[:2], (2, events[1].hash), [Anchor(3, events[2].hash)])
    assert [f.kind for f in gone] == ["anchor_missing"]


@pytest.mark.parametrize("text", ["5", "x:" + "a" * 64, "0:" + "a" * 64, "5:abc", "5:" + "g" * 64])
def test_a_malformed_anchor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="SEQ:HASH"):
        parse_anchor(text)
    assert parse_anchor(" 7:" + "AB" * 32) == Anchor(7, "ab" * 32)


def test_cli_wiped_log_and_head_is_tampered(scanned_case: Path) -> None:
    _sql(scanned_case, "DELETE FROM audit_events")
    (scanned_case / "audit.head").unlink()
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "(empty)" in output and "OK" not in output


def test_cli_event_appended_after_the_head_is_caught(scanned_case: Path) -> None:
    (seq, prev), *_ = _rows(scanned_case, "SELECT seq, hash FROM audit_events ORDER BY seq DESC")
    ts, payload = "2026-11-30T00:00:00+00:00", '{"note":"added by hand"}'
    h = event_hash(ts, "scan_finished", "Mallory", payload, prev)
    _sql(
        scanned_case,
        "INSERT INTO audit_events (seq, ts, action, actor, payload, prev_hash, hash) "
        f"VALUES ({seq + 1}, '{ts}', 'scan_finished', 'Mallory', '{payload}', '{prev}', '{h}')",
    )
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "(appended)" in output and "after event 5" in output


def test_cli_anchor_catches_a_rewritten_log(scanned_case: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(main, ["audit", "anchor", "--case", str(scanned_case)])
    assert printed.exit_code == 0, printed.output
    anchor = printed.output.strip()
    assert anchor == "5:" + _rows(scanned_case, "SELECT hash FROM audit_events WHERE seq=5")[0][0]
    code, output = _verify(scanned_case)
    assert code == 0 and "cannot prove" in output  # says what it cannot prove

    # rewrite event 2, re-hash the chain and audit.head: the case alone cannot tell
    rows = _rows(
        scanned_case, "SELECT seq, ts, action, actor, payload FROM audit_events ORDER BY seq"
    )
    prev = GENESIS
    for seq, ts, action, actor, payload in rows:
        actor = "Mallory" if seq == 2 else actor
        h = event_hash(ts, action, actor, payload, prev)
        with sqlite3.connect(scanned_case / "case.sqlite") as db:
            db.execute(
                "UPDATE audit_events SET actor=?, prev_hash=?, hash=? WHERE seq=?",
                (actor, prev, h, seq),
            )
        prev = h
    write_head(scanned_case / "audit.head", len(rows), prev)
    assert _verify(scanned_case)[0] == 0

    result = runner.invoke(
        main, ["audit", "verify", "--case", str(scanned_case), "--anchor", anchor]
    )
    assert result.exit_code == EXIT_TAMPERED and "(anchor_mismatch) event 5" in result.output
    bad = runner.invoke(main, ["audit", "verify", "--case", str(scanned_case), "--anchor", "5:x"])
    assert bad.exit_code == 2 and "SEQ:HASH" in bad.output


def test_cli_anchor_verifies_and_is_refused_for_a_tampered_log(scanned_case: Path) -> None:
    runner = CliRunner()
    anchor = runner.invoke(main, ["audit", "anchor", "--case", str(scanned_case)]).output.strip()
    ok = runner.invoke(main, ["audit", "verify", "--case", str(scanned_case), "--anchor", anchor])
    assert ok.exit_code == 0 and "events 1-5 are unchanged" in ok.output
    _sql(scanned_case, "UPDATE audit_events SET actor='Mallory' WHERE seq=2")
    refused = runner.invoke(main, ["audit", "anchor", "--case", str(scanned_case)])
    assert refused.exit_code == EXIT_TAMPERED and "no anchor printed" in refused.output


def _rows(case: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


def test_the_report_says_what_the_chain_proves_and_gives_its_anchor() -> None:
    events = _chain(3)
    text = report_statement(events, intact=True)
    assert "cannot show that the whole log was not rewritten" in text
    assert f"3:{events[-1].hash}" in text
    assert f"3:{events[-1].hash}" not in report_statement(events, intact=False)


def test_cli_a_log_wiped_and_written_again_does_not_start_the_case(scanned_case: Path) -> None:
    _sql(scanned_case, "DELETE FROM audit_events")
    (scanned_case / "audit.head").unlink()
    result = CliRunner().invoke(
        main,
        ["scan", str(scanned_case.parent / "evidence"), "--case", str(scanned_case), "-q",
         "--workers", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "(not_a_case_start)" in output


# --- examiner signatures (Ed25519) -------------------------------------------------------------


def _rehash_all(case: Path, actor_of_2: str) -> None:
    """Rewrite event 2's actor and re-hash the chain and audit.head (write access suffices)."""
    rows = _rows(case, "SELECT seq, ts, action, actor, payload FROM audit_events ORDER BY seq")
    prev = GENESIS
    with sqlite3.connect(case / "case.sqlite") as db:
        for seq, ts, action, actor, payload in rows:
            actor = actor_of_2 if seq == 2 else actor
            h = event_hash(ts, action, actor, payload, prev)
            db.execute(
                "UPDATE audit_events SET actor=?, prev_hash=?, hash=? WHERE seq=?",
                (actor, prev, h, seq),
            )
            prev = h
    write_head(case / "audit.head", len(rows), prev)


def test_cli_signed_log_verifies_with_the_examiners_key_and_a_rewrite_is_caught(
    scanned_case: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    key = tmp_path / "examiner.key"
    made = runner.invoke(main, ["audit", "keygen", "--out", str(key)])
    assert made.exit_code == 0 and made.output.startswith("ed25519:")
    public = made.output.strip()
    assert key.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(main, ["audit", "keygen", "--out", str(key)])
    assert again.exit_code == 2 and "exists" in again.output

    signed = runner.invoke(
        main, ["audit", "sign", "--case", str(scanned_case), "--key", str(key), "--examiner", "T"]
    )
    assert signed.exit_code == 0 and "events 1-5 signed by" in signed.output, signed.output
    verify = ["audit", "verify", "--case", str(scanned_case)]
    result = runner.invoke(main, [*verify, "--public-key", public])
    assert result.exit_code == 0 and "signed: events 1-5" in result.output
    assert "(the given examiner key)" in result.output

    other = tmp_path / "other.key"
    other_public = runner.invoke(main, ["audit", "keygen", "--out", str(other)]).output.strip()
    result = runner.invoke(main, [*verify, "--public-key", other_public])
    assert result.exit_code == EXIT_TAMPERED and "(not_signed)" in result.output

    _rehash_all(scanned_case, "Mallory")  # the old signature covers a hash the log lost
    result = runner.invoke(main, verify)
    assert (
        result.exit_code == EXIT_TAMPERED
        and "(signed_event_changed) event 6 signed event 5" in result.output
    )
    bad = runner.invoke(main, [*verify, "--public-key", "ed25519:nope"])
    assert bad.exit_code == 2 and "ed25519:<base64>" in bad.output


def test_cli_a_forged_signature_is_caught(scanned_case: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    key = tmp_path / "examiner.key"
    runner.invoke(main, ["audit", "keygen", "--out", str(key)])
    runner.invoke(main, ["audit", "sign", "--case", str(scanned_case), "--key", str(key)])
    (payload,) = _rows(scanned_case, "SELECT payload FROM audit_events WHERE seq=6")[0]
    forged = payload.replace('"signed_seq":5', '"signed_seq":4')
    assert forged != payload
    _sql(scanned_case, f"UPDATE audit_events SET payload='{forged}' WHERE seq=6")
    _rehash_all(scanned_case, "T. Ester")  # a consistent chain again, with the forged payload
    code, output = _verify(scanned_case)
    assert code == EXIT_TAMPERED and "(bad_signature) the signature in event 6" in output


@pytest.mark.parametrize("command", ["verify", "anchor", "show", "keygen", "sign"])
def test_every_audit_command_has_help_with_examples(command: str) -> None:
    result = CliRunner().invoke(main, ["audit", command, "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output
    assert f"consentry audit {command}" in result.output
