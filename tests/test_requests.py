"""The requests service as the web app calls it: the policy and its due dates (weekends,
holidays, the case's own policy.yaml), status transitions, overdue at a moved clock, who may see
and change what, the audit trail, and takedown notices listed beside the requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from consentry.services.access import Account, Role
from consentry.services.audit import audit_events, verify_audit
from consentry.services.case import CaseHandle, CaseRef, ErrorCode, ServiceError, handle, opened
from consentry.services.requests import (
    create_request,
    list_requests,
    load_policy,
    parse_policy,
    request_detail,
    update_request,
    write_default_policy,
)

EXAMINER = Account.local("A. Examiner")
MANAGER = Account(1, "C. Manager", Role.CASE_MANAGER)
REVIEWER = Account(2, "R. Viewer", Role.REVIEWER)
ADVOCATE_E1 = Account(3, "V. Advocate", Role.ADVOCATE, ("E1",))
# Friday 20 Nov 2026, 09:00 London (= UTC in November)
FRIDAY = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def new_case(case_dir: Path, names: tuple[str, ...] = ("Avery Lane", "Blake Moreno")) -> CaseRef:
    ref = CaseRef(case_dir)
    with opened(ref, create=True) as case, case.store.engine.begin() as conn:
        for name in names:  # enrolled persons without templates
            case.persons._new_person(conn, "enrolled", name=name, created_by="test")
    return ref


@pytest.fixture
def h(tmp_path: Path) -> Iterator[CaseHandle]:
    ref = new_case(tmp_path / "case")
    with handle(ref) as opened_handle:
        yield opened_handle


# -- policy ------------------------------------------------------------------------------------
def test_default_policy_due_dates_skip_the_weekend(tmp_path: Path) -> None:
    policy = load_policy(tmp_path)
    assert policy.source.startswith("default")
    assert policy.days("disciplinary_review", "offer") == 10
    # acknowledge 2 working days after Friday: Tuesday 24 Nov, 17:00 London (17:00 UTC)
    assert policy.due("interim_measure", "acknowledge", FRIDAY) == datetime(
        2026, 11, 24, 17, 0, tzinfo=UTC
    )
    # implement 5 working days after Friday: next Friday 27 Nov
    assert policy.due("interim_measure", "implement", FRIDAY) == datetime(
        2026, 11, 27, 17, 0, tzinfo=UTC
    )
    # a request on Saturday counts from Monday (day 1 = Tuesday... day 1 after Sat = Mon)
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    assert policy.due("takedown", "acknowledge", saturday) == datetime(
        2026, 11, 23, 17, 0, tzinfo=UTC
    )
    assert policy.due("other", "implement", FRIDAY) is None


def test_case_policy_wins_holidays_and_summer_time(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(
        "holidays: [2026-11-23, 2026-11-24]\nday_ends: '16:30'\n"
        "interim_measure: {acknowledge: 2, implement: 5}\n"
    )
    policy = load_policy(tmp_path)
    assert policy.source == str(tmp_path / "policy.yaml")
    assert policy.holidays == (date(2026, 11, 23), date(2026, 11, 24))
    # Mon and Tue are holidays: 2 working days after Friday is Thursday 26 Nov
    assert policy.due("interim_measure", "acknowledge", FRIDAY) == datetime(
        2026, 11, 26, 16, 30, tzinfo=UTC
    )
    assert policy.days("disciplinary_review", "acknowledge") is None  # not in this file
    # British Summer Time: 16:30 London is 15:30 UTC
    june = datetime(2026, 6, 5, 9, 0, tzinfo=UTC)  # a Friday
    assert policy.due("interim_measure", "acknowledge", june) == datetime(
        2026, 6, 9, 15, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("interim_mesure: {acknowledge: 2}\n", "interim_mesure: unknown kind"),
        ("takedown: {acknowlege: 1}\n", "takedown.acknowlege: unknown step"),
        ("holidays: [2026-13-01]\n", "holidays: '2026-13-01' is not a date"),
        ("takedown: {acknowledge: soon}\n", "takedown.acknowledge: 'soon' is not a number"),
        ("timezone: Mars/Olympus\n", "timezone: 'Mars/Olympus' is not a known time zone"),
        ("working_days: [mon, funday]\n", "working_days: 'funday' is not a day"),
        ("takedown: {acknowledge: 1\nother: [\n", "line "),
    ],
)
def test_bad_policy_names_file_and_key(text: str, words: str) -> None:
    with pytest.raises(ServiceError) as err:
        parse_policy(text, "case/policy.yaml")
    assert err.value.code is ErrorCode.MISUSE
    assert err.value.message.startswith("case/policy.yaml: ")
    assert words in err.value.message
    assert "\n" not in err.value.message


def test_bad_policy_names_the_line() -> None:
    text = "timezone: Europe/London\nholidays:\n  - 2026-12-25\n  - 2026-12-32\n"
    with pytest.raises(ServiceError) as err:
        parse_policy(text, "policy.yaml")
    assert err.value.message == (
        "policy.yaml: line 4: holidays: '2026-12-32' is not a date (YYYY-MM-DD)"
    )
    with pytest.raises(ServiceError) as err:
        parse_policy("day_ends: '17:00'\npolice_report:\n  implement: -1\n", "policy.yaml")
    assert err.value.message.startswith("policy.yaml: line 3: police_report.implement: -1 ")


def test_write_default_refuses_to_overwrite(tmp_path: Path) -> None:
    path = write_default_policy(tmp_path)
    assert load_policy(tmp_path).source == str(path)
    assert "COUNTED FROM THE REQUEST" in path.read_text()
    with pytest.raises(ServiceError) as err:
        write_default_policy(tmp_path)
    assert err.value.code is ErrorCode.MISUSE and "already exists" in err.value.message


# -- the workflow ------------------------------------------------------------------------------
def test_transitions_due_dates_and_events(h: CaseHandle) -> None:
    view = create_request(
        h, MANAGER, "e1", "disciplinary_review", "Victim (E1)", asked_at=FRIDAY, now=FRIDAY
    )
    assert (view.code, view.person, view.person_name) == ("R0001", "E1", "Avery Lane")
    assert view.status == "requested" and view.source == "request"
    assert view.due_at == "2026-11-24T17:00:00+00:00"
    assert view.next_step == "acknowledge by 24 Nov 17:00"
    assert not view.overdue

    later = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    view = update_request(h, MANAGER, "r0001", status="acknowledged", owner="Dean", now=later)
    # offer is 10 working days from the request: Friday 4 Dec
    assert (view.status, view.owner, view.due_at) == (
        "acknowledged",
        "Dean",
        "2026-12-04T17:00:00+00:00",
    )
    view = update_request(h, MANAGER, "R0001", status="offered", now=later)
    assert view.due_at == "2026-12-18T17:00:00+00:00"  # implement: 20 working days
    view = update_request(h, MANAGER, "R0001", status="implemented", note="done", now=later)
    assert (view.status, view.due_at, view.next_step, view.overdue) == (
        "implemented",
        None,
        None,
        False,
    )
    with pytest.raises(ServiceError) as err:
        update_request(h, MANAGER, "R0001", status="declined", decline_reason="x", now=later)
    assert err.value.code is ErrorCode.MISUSE and "cannot change any more" in err.value.message

    detail = request_detail(h, EXAMINER, "R0001")
    assert [e.status for e in detail.events] == [
        "requested",
        "acknowledged",
        "offered",
        "implemented",
    ]
    assert detail.events[1].owner == "Dean" and detail.events[-1].note == "done"
    assert detail.events[1].actor == "C. Manager"


def test_offer_may_be_skipped_not_acknowledge_and_decline_needs_reason(h: CaseHandle) -> None:
    create_request(h, EXAMINER, "E1", "interim_measure", "Victim (E1)", asked_at=FRIDAY)
    with pytest.raises(ServiceError) as err:
        update_request(h, EXAMINER, "R0001", status="implemented")
    assert "can go to acknowledged, declined, not implemented" in err.value.message
    update_request(h, EXAMINER, "R0001", status="acknowledged")
    assert update_request(h, EXAMINER, "R0001", status="implemented").status == "implemented"

    create_request(h, EXAMINER, "E2", "notify_tutors", "Advocate", asked_at=FRIDAY)
    with pytest.raises(ServiceError) as err:
        update_request(h, EXAMINER, "R0002", status="declined")
    assert err.value.message == "a declined request needs a reason"
    view = update_request(h, EXAMINER, "R0002", status="declined", decline_reason="no tutors")
    assert (view.status, view.decline_reason) == ("declined", "no tutors")
    with pytest.raises(ServiceError) as err:
        update_request(h, EXAMINER, "R0002", status="bogus")
    assert "unknown status 'bogus'" in err.value.message


def test_overdue_at_a_moved_clock_sorts_first(h: CaseHandle) -> None:
    create_request(h, EXAMINER, "E2", "police_report", "Victim (E2)", asked_at=FRIDAY)
    create_request(h, EXAMINER, "E1", "takedown", "Victim (E1)", asked_at="2026-11-20T09:00")
    create_request(h, EXAMINER, None, "other", "Dean", asked_at=FRIDAY)
    # takedown acknowledge due Mon 23 Nov 17:00; police report Tue 24; other Fri 27
    before = list_requests(h, EXAMINER, now=datetime(2026, 11, 23, 16, 59, tzinfo=UTC))
    assert [v.code for v in before] == ["R0002", "R0001", "R0003"]
    assert not any(v.overdue for v in before)
    moved = datetime(2026, 11, 24, 17, 1, tzinfo=UTC)
    after = list_requests(h, EXAMINER, now=moved)
    assert [(v.code, v.overdue) for v in after] == [
        ("R0002", True),
        ("R0001", True),
        ("R0003", False),
    ]
    assert [v.code for v in list_requests(h, EXAMINER, overdue_only=True, now=moved)] == [
        "R0002",
        "R0001",
    ]
    assert [v.code for v in list_requests(h, EXAMINER, person="e2", now=moved)] == ["R0001"]
    # acknowledged late: the takedown's implement step (2 days from the request) is due too
    update_request(h, EXAMINER, "R0002", status="acknowledged", now=moved)
    takedown = request_detail(h, EXAMINER, "R0002", now=moved).view
    assert (takedown.due_at, takedown.overdue) == ("2026-11-24T17:00:00+00:00", True)
    # the police report's implement step is 10 working days from the request: 4 Dec
    police = update_request(h, EXAMINER, "R0001", status="acknowledged", now=moved)
    assert (police.due_at, police.overdue) == ("2026-12-04T17:00:00+00:00", False)


def test_codes_are_sequential_and_bad_input_is_misuse(h: CaseHandle) -> None:
    codes = [create_request(h, EXAMINER, "E1", "hash_pack", "Victim").code for _ in range(3)]
    assert codes == ["R0001", "R0002", "R0003"]
    for person, kind, asked_at, words in [
        ("E9", "hash_pack", None, "no person E9 in this case"),
        ("E1", "lunch", None, "unknown kind 'lunch'"),
        ("E1", "hash_pack", "last tuesday", "asked at: 'last tuesday' is not a date"),
    ]:
        with pytest.raises(ServiceError) as err:
            create_request(h, EXAMINER, person, kind, "Victim", asked_at=asked_at)
        assert err.value.code is ErrorCode.MISUSE
        assert words in err.value.message
    with pytest.raises(ServiceError) as err:
        update_request(h, EXAMINER, "R0001")
    assert "nothing to change" in err.value.message


def test_merged_person_is_refused(h: CaseHandle) -> None:
    with h.writing() as case:
        e1, e2 = case.persons.person("E1"), case.persons.person("E2")
        assert e1 and e2
        case.persons.merge(e2.id, e1.id)
    with pytest.raises(ServiceError) as err:
        create_request(h, EXAMINER, "E2", "hash_pack", "Victim")
    assert err.value.message == "no person E2 in this case"


# -- who may do what ---------------------------------------------------------------------------
def test_advocate_scope_and_forbidden_roles(h: CaseHandle) -> None:
    create_request(h, MANAGER, "E2", "interim_measure", "Victim (E2)")
    mine = create_request(h, ADVOCATE_E1, "E1", "interim_measure", "Victim (E1)")
    assert mine.code == "R0002" and mine.person == "E1"
    # the advocate sees only E1's requests; E2's answer as if they did not exist
    assert [v.code for v in list_requests(h, ADVOCATE_E1)] == ["R0002"]
    for call in (
        lambda: request_detail(h, ADVOCATE_E1, "R0001"),
        lambda: update_request(h, ADVOCATE_E1, "R0001", status="acknowledged"),
        lambda: create_request(h, ADVOCATE_E1, "E2", "other", "Advocate"),
        lambda: create_request(h, ADVOCATE_E1, None, "other", "Advocate"),
        lambda: list_requests(h, ADVOCATE_E1, person="E2"),
    ):
        with pytest.raises(ServiceError) as err:
            call()
        assert err.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ServiceError) as err:
        request_detail(h, ADVOCATE_E1, "R0099")
    assert err.value.code is ErrorCode.NOT_FOUND
    # advocates may record, not manage; reviewers may do neither
    with pytest.raises(ServiceError) as err:
        update_request(h, ADVOCATE_E1, "R0002", status="acknowledged")
    assert err.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as err:
        create_request(h, REVIEWER, "E1", "other", "Reviewer")
    assert err.value.code is ErrorCode.FORBIDDEN
    with pytest.raises(ServiceError) as err:
        update_request(h, REVIEWER, "R0002", owner="me")
    assert err.value.code is ErrorCode.FORBIDDEN
    assert len(list_requests(h, REVIEWER)) == 2


# -- audit and notices -------------------------------------------------------------------------
def test_audit_events_and_chain_verify(h: CaseHandle) -> None:
    create_request(h, MANAGER, "E1", "interim_measure", "Victim (E1)", owner="Dean")
    update_request(h, MANAGER, "R0001", status="acknowledged", owner="Registry", note="called")
    events = [e for e in audit_events(h.ref) if e.action.startswith("request_")]
    assert [e.action for e in events] == ["request_created", "request_updated"]
    created, updated = (json.loads(e.payload) for e in events)
    assert (created["code"], created["person"], created["kind"], created["owner"]) == (
        "R0001",
        "E1",
        "interim_measure",
        "Dean",
    )
    assert (updated["from_status"], updated["to_status"], updated["owner"], updated["note"]) == (
        "requested",
        "acknowledged",
        "Registry",
        "called",
    )
    assert events[1].actor == "C. Manager"
    verify_audit(h.ref)  # raises when the chain is broken


def test_takedown_notices_are_listed_with_their_clock(h: CaseHandle) -> None:
    with h.writing() as case:
        for notice_id, person in (("N1", "E1"), ("N2", "E2")):
            case.store.append_audit(
                "notice_created",
                "A. Examiner",
                {
                    "notice_id": notice_id,
                    "platform": "example.com",
                    "person": person,
                    "urls": [],
                    "item_hashes": ["a" * 64],
                    "notice_file": f"{notice_id}.md",
                    "notice_sha256": "b" * 64,
                    "report_id": "r",
                },
            )
        case.store.append_audit(
            "notice_sent",
            "A. Examiner",
            {
                "notice_id": "N1",
                "sent_at": "2026-11-20T09:00:00+00:00",
                "deadline": "2026-11-22T09:00:00+00:00",
            },
        )
    create_request(h, EXAMINER, "E1", "hash_pack", "Victim (E1)", asked_at=FRIDAY)
    views = list_requests(h, EXAMINER, now=datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    assert [(v.code, v.source, v.status, v.overdue) for v in views] == [
        ("N1", "notice", "overdue", True),
        ("R0001", "request", "requested", False),
        ("N2", "notice", "pending", False),
    ]
    assert views[0].kind == "takedown" and views[0].due_at == "2026-11-22T09:00:00+00:00"
    assert [v.code for v in list_requests(h, ADVOCATE_E1)] == ["N1", "R0001"]
