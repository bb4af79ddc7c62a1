"""The report's "Requests and measures": a timeline per person of every request and change, in
the HTML (hence PDF) and JSON reports; a person-scoped report holds that person's only, and a
redacted one shows codes instead of names."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from consentry.reports.collect import _requests, collect_case
from consentry.reports.html_report import render_html
from consentry.reports.json_report import load_schema, report_document
from consentry.reports.options import ReportOptions
from consentry.reports.redact import Redactor
from consentry.services.case import handle
from consentry.services.requests import create_request, update_request
from consentry.store.case import open_case_readonly
from consentry.store.requests_store import RequestsStore

from .test_report_wording import report, section, text_of
from .test_requests import EXAMINER, MANAGER, new_case

NAMES = {"E1": "Avery Lane", "E2": "Blake Moreno"}
FRIDAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def case_with_requests(case_dir: Path) -> Path:
    ref = new_case(case_dir)
    with handle(ref) as h:
        create_request(h, MANAGER, "E1", "interim_measure", "Avery Lane", asked_at=FRIDAY)
        later = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        update_request(
            h, MANAGER, "R0001", status="acknowledged", owner="Registry", note="Avery Lane called",
            now=later,
        )  # fmt: skip
        update_request(h, MANAGER, "R0001", status="implemented", now=later)
        create_request(
            h, MANAGER, "E2", "disciplinary_review", "Blake Moreno", asked_at=FRIDAY,
            detail="Blake Moreno asks for a review",
        )  # fmt: skip
        create_request(h, EXAMINER, None, "other", "Dean of students", asked_at=FRIDAY)
    return case_dir


def test_whole_case_report_has_a_table_per_person(tmp_path: Path) -> None:
    case_dir = case_with_requests(tmp_path / "case")
    r = collect_case(case_dir, ReportOptions())
    assert [(g.person, g.name, [q.code for q in g.requests]) for g in r.requests] == [
        ("E1", "Avery Lane", ["R0001"]),
        ("E2", "Blake Moreno", ["R0002"]),
        (None, None, ["R0003"]),
    ]
    r1 = r.requests[0].requests[0]
    assert [(e.what, e.status) for e in r1.events] == [
        ("requested", "requested"),
        ("acknowledged; owner: Registry", "acknowledged"),
        ("implemented", "implemented"),
    ]
    assert r1.events[1].note == "Avery Lane called" and r1.events[1].who == "C. Manager"
    assert not r1.overdue and r.requests[1].requests[0].overdue  # asked in Nov, still open

    html = render_html(r)
    part = section(html, "requests")
    assert "8. Requests and measures" in part
    assert part.count("<table") == 3
    text = text_of(part)
    for words in ("E1 — Avery Lane", "E2 — Blake Moreno", "The whole case", "R0003", "Registry"):
        assert words in text
    assert len(re.findall(r"badge bad\">overdue", part)) == 2  # R0002 and R0003
    assert 'href="#requests"' in html and "13. Annex" in html

    document = report_document(r)
    jsonschema.validate(document, load_schema())
    assert document["requests"][0]["requests"][0]["events"][1]["what"] == (
        "acknowledged; owner: Registry"
    )


def test_person_scoped_timeline_hides_everyone_else(tmp_path: Path) -> None:
    case_dir = case_with_requests(tmp_path / "case")
    with open_case_readonly(case_dir) as case:
        store = RequestsStore(case.store.engine)
        options = ReportOptions(person="E2")
        groups = _requests(store, options, Redactor(NAMES, "E2", False), NAMES, FRIDAY)
        redacted = _requests(
            store, ReportOptions(redact=True), Redactor(NAMES, None, True), NAMES, FRIDAY
        )
    assert [(g.person, [q.code for q in g.requests]) for g in groups] == [("E2", ["R0002"])]
    html = render_html(report(scope="E2", requests=groups))
    part = text_of(section(html, "requests"))
    assert "R0002" in part and "Blake Moreno" in part
    for other in ("R0001", "R0003", "Avery", "Registry", "Dean"):
        assert other not in part
        assert other not in html

    # redacted: codes, never names
    assert [g.name for g in redacted] == [None, None, None]
    e1 = redacted[0].requests[0]
    assert e1.asked_by == "[E1]" and e1.events[1].note == "[E1] called"
    assert redacted[1].requests[0].detail == "[E2] asks for a review"
    text = text_of(section(render_html(report(redacted=True, requests=redacted)), "requests"))
    assert "Avery" not in text and "Blake" not in text and "[E1]" in text


def test_a_case_without_requests_says_so_and_json_is_unchanged(tmp_path: Path) -> None:
    case_dir = tmp_path / "case"
    new_case(case_dir)
    r = collect_case(case_dir, ReportOptions())
    assert r.requests == []
    assert "requests" not in report_document(r)  # the JSON of older reports stays as it was
    assert "No request or measure has been recorded" in section(render_html(r), "requests")
