"""The accounts service: users, argon2 hashes, login, rate limit, sessions and their audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from consentry.services.access import Role
from consentry.services.accounts import (
    add_user,
    disable_user,
    list_users,
    login,
    logout,
    session,
)
from consentry.services.audit import audit_events, verify_audit
from consentry.services.case import CaseHandle, CaseRef, ErrorCode, ServiceError, opened

PASSWORD = "correct horse battery"
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def ref(tmp_path: Path) -> CaseRef:
    ref = CaseRef(tmp_path / "case")
    with opened(ref, create=True) as case:
        with case.store.engine.begin() as conn:  # two persons, no templates needed here
            case.persons._new_person(conn, "enrolled", name="Test Person")  # E1
            case.persons._new_person(conn, "enrolled", name="Other Person")  # E2
        case.persons.merge(2, 1)  # E2 merged into E1
    return ref


@pytest.fixture
def h(ref: CaseRef) -> Iterator[CaseHandle]:
    handle = CaseHandle(ref)
    yield handle
    handle.close()


def _code(exc: pytest.ExceptionInfo[ServiceError]) -> ErrorCode:
    return exc.value.code


def test_add_list_disable_and_hash_stored(ref: CaseRef) -> None:
    new = add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), "lead")
    assert new.password is None and new.account.role is Role.EXAMINER
    generated = add_user(ref, "robin", Role.CASE_MANAGER, None, (), "lead")
    assert generated.password and len(generated.password) >= 16
    assert [a.name for a in list_users(ref)] == ["alex", "robin"]
    with opened(ref) as case, case.store.engine.connect() as conn:
        hashes = [r[0] for r in conn.execute(text("SELECT password_hash FROM users"))]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any(PASSWORD in h or generated.password in h for h in hashes)
    disable_user(ref, "robin", "lead")
    assert [a.name for a in list_users(ref)] == ["alex"]
    with pytest.raises(ServiceError) as exc:
        disable_user(ref, "robin", "lead")
    assert _code(exc) is ErrorCode.MISUSE
    events = {e.action: e for e in audit_events(ref)}
    assert "user_added" in events and "user_disabled" in events
    assert PASSWORD not in events["user_added"].payload
    assert verify_audit(ref).findings == ()


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", PASSWORD, "1 to 64"),
        ("x" * 65, PASSWORD, "1 to 64"),
        ("bad\nname", PASSWORD, "printable"),
        (" alex", PASSWORD, "printable"),
        ("kim", "short", "at least 10"),
    ],
)
def test_bad_names_and_passwords(ref: CaseRef, name: str, password: str, message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        add_user(ref, name, Role.REVIEWER, password, (), None)


def test_unique_names(ref: CaseRef) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    with pytest.raises(ServiceError, match="already exists"):
        add_user(ref, "Alex", Role.REVIEWER, PASSWORD, (), None)


def test_advocate_scope(ref: CaseRef) -> None:
    with pytest.raises(ServiceError, match="at least one person"):
        add_user(ref, "sam", Role.ADVOCATE, PASSWORD, (), None)
    with pytest.raises(ServiceError, match="no person E9"):
        add_user(ref, "sam", Role.ADVOCATE, PASSWORD, ("E9",), None)
    with pytest.raises(ServiceError, match="no person E2"):  # merged
        add_user(ref, "sam", Role.ADVOCATE, PASSWORD, ("E2",), None)
    with pytest.raises(ServiceError, match="only an advocate"):
        add_user(ref, "kim", Role.REVIEWER, PASSWORD, ("E1",), None)
    new = add_user(ref, "sam", Role.ADVOCATE, PASSWORD, ("e1",), None)
    assert new.account.scope == ("E1",)
    assert list_users(ref)[0].scope == ("E1",)


def test_login_session_logout(ref: CaseRef, h: CaseHandle) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    result = login(h, "alex", PASSWORD, "127.0.0.1", now=T0)
    assert result.account.name == "alex" and result.token and result.csrf_token
    info = session(h, result.token, now=T0 + timedelta(hours=7))
    assert info is not None and info.csrf_token == result.csrf_token
    assert session(h, result.token, now=T0 + timedelta(hours=8, seconds=1)) is None
    assert session(h, "not a token", now=T0) is None
    with h.reading() as case, case.store.engine.connect() as conn:
        stored = str(conn.execute(text("SELECT token_sha256 FROM web_sessions")).scalar())
    assert stored != result.token and len(stored) == 64
    logout(h, result.token)
    assert session(h, result.token, now=T0) is None
    actions = [e.action for e in audit_events(ref)]
    assert "login" in actions and "logout" in actions
    assert verify_audit(ref).findings == ()


def test_wrong_name_or_password_same_answer(ref: CaseRef, h: CaseHandle) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    for name, password in (("alex", "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(ServiceError) as exc:
            login(h, name, password, "127.0.0.1", now=T0)
        assert _code(exc) is ErrorCode.UNAUTHENTICATED
        assert exc.value.message == "wrong name or password"
    failed = [e for e in audit_events(ref) if e.action == "login_failed"]
    assert len(failed) == 2 and all(e.actor is None for e in failed)
    assert all(PASSWORD not in e.payload and "wrong password" not in e.payload for e in failed)


def test_disabled_user_cannot_log_in_and_loses_sessions(ref: CaseRef, h: CaseHandle) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    result = login(h, "alex", PASSWORD, "127.0.0.1", now=T0)
    disable_user(ref, "alex", None)
    assert session(h, result.token, now=T0) is None
    with pytest.raises(ServiceError, match="wrong name or password"):
        login(h, "alex", PASSWORD, "127.0.0.1", now=T0)


def test_rate_limit_per_name(ref: CaseRef, h: CaseHandle) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    for i in range(5):
        with pytest.raises(ServiceError) as exc:
            login(h, "alex", "wrong password", "10.0.0.1", now=T0 + timedelta(minutes=i))
        assert _code(exc) is ErrorCode.UNAUTHENTICATED
    # even the right password is refused now
    with pytest.raises(ServiceError) as exc:
        login(h, "alex", PASSWORD, "10.0.0.2", now=T0 + timedelta(minutes=5))
    assert _code(exc) is ErrorCode.RATE_LIMITED
    assert exc.value.message == "too many failed logins: wait 10 minutes"
    # the first failure leaves the window at 15 minutes
    assert login(h, "alex", PASSWORD, "10.0.0.2", now=T0 + timedelta(minutes=15, seconds=1))


def test_rate_limit_per_remote(ref: CaseRef, h: CaseHandle) -> None:
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    for i in range(20):
        with pytest.raises(ServiceError):
            login(h, f"guess{i}", "wrong password", "10.0.0.9", now=T0)
    with pytest.raises(ServiceError) as exc:
        login(h, "alex", PASSWORD, "10.0.0.9", now=T0 + timedelta(minutes=1))
    assert _code(exc) is ErrorCode.RATE_LIMITED
    assert login(h, "alex", PASSWORD, "10.0.0.8", now=T0 + timedelta(minutes=1))


def test_cli_user_add_list_disable(ref: CaseRef) -> None:
    import json

    from click.testing import CliRunner

    from consentry.cli.users import user_group

    runner = CliRunner()
    case = str(ref.path)
    r = runner.invoke(user_group, ["add", "--case", case, "--role", "examiner", "alex"])
    assert r.exit_code == 0, r.output
    assert "one-time password: " in r.output and "shown only now" in r.output
    r = runner.invoke(
        user_group,
        ["add", "--case", case, "--role", "advocate", "--person", "E1", "--password-stdin", "sam"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0 and "one-time password" not in r.output
    r = runner.invoke(user_group, ["add", "--case", case, "--role", "advocate", "kim"])
    assert r.exit_code == 2 and "error: an advocate needs at least one person" in r.output
    r = runner.invoke(user_group, ["list", "--case", case, "--json"])
    assert json.loads(r.output) == [
        {"name": "alex", "role": "examiner", "scope": []},
        {"name": "sam", "role": "advocate", "scope": ["E1"]},
    ]
    assert runner.invoke(user_group, ["disable", "--case", case, "sam"]).exit_code == 0
    r = runner.invoke(user_group, ["list", "--case", case])
    assert r.output.splitlines() == ["alex  examiner"]
