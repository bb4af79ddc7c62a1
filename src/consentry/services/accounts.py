"""The web app's accounts: adding, listing and disabling users (one-shot, from the CLI), and
logging in and out (the web app, through a ``CaseHandle``).

Passwords are stored only as argon2id hashes. A login session's token lives only in the
browser's cookie; the store keeps its SHA-256. Failed logins are rate-limited: 5 per name
(since its last success) or 20 per remote address within 15 minutes. Audit events: ``user_added``,
``user_disabled``, ``login``, ``login_failed``, ``logout`` (never a password, hash or token).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from consentry.services.access import Account, Role
from consentry.services.case import (
    CaseHandle,
    CaseRef,
    ErrorCode,
    ServiceError,
    opened,
    opened_readonly,
)

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from consentry.store.accounts_store import AccountsStore, UserRow
    from consentry.store.case import Case

SESSION_HOURS = 8
MIN_PASSWORD = 10
MAX_NAME = 64
NAME_FAILURES = 5
REMOTE_FAILURES = 20
WINDOW = timedelta(minutes=15)
WRONG = "wrong name or password"


@dataclass(frozen=True)
class NewUser:
    account: Account
    password: str | None  # the generated one-time password; None when one was given


@dataclass(frozen=True)
class LoginResult:
    account: Account
    token: str  # for the cookie only: the store keeps its SHA-256
    csrf_token: str
    expires_at: str


@dataclass(frozen=True)
class SessionInfo:
    account: Account
    csrf_token: str
    expires_at: str


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so both answers take about as long."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _store(case: Case) -> AccountsStore:
    from consentry.store.accounts_store import AccountsStore

    return AccountsStore(case.store.engine)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _account(row: UserRow) -> Account:
    return Account(row.id, row.name, Role(row.role), row.scope)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME:
        raise ServiceError(ErrorCode.MISUSE, f"a user name has 1 to {MAX_NAME} characters")
    if not name.isprintable() or name != name.strip():
        raise ServiceError(
            ErrorCode.MISUSE,
            "a user name holds printable characters only, and no space at its start or end",
        )


def add_user(
    ref: CaseRef,
    name: str,
    role: Role,
    password: str | None,
    scope: Sequence[str],
    created_by: str | None,
) -> NewUser:
    """A new account. ``password`` None: a one-time password is generated and returned (it is
    shown once, never stored). An advocate needs at least one person code in ``scope``; the
    other roles none."""
    _check_name(name)
    role = Role(role)
    codes = tuple(dict.fromkeys(c.strip().upper() for c in scope))
    if role is Role.ADVOCATE and not codes:
        raise ServiceError(ErrorCode.MISUSE, "an advocate needs at least one person (--person)")
    if role is not Role.ADVOCATE and codes:
        raise ServiceError(ErrorCode.MISUSE, f"only an advocate has persons; a {role} sees all")
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(12)
    elif len(password) < MIN_PASSWORD:
        raise ServiceError(ErrorCode.MISUSE, f"a password has at least {MIN_PASSWORD} characters")
    from consentry.store.persons_store import MERGED

    with opened(ref) as case:
        for code in codes:
            person = case.persons.person(code)
            if person is None or person.status == MERGED:
                raise ServiceError(ErrorCode.MISUSE, f"no person {code} in this case")
        store = _store(case)
        if store.user_named_like(name) is not None:
            raise ServiceError(ErrorCode.MISUSE, f"a user named {name} already exists")
        user_id = store.add_user(
            name, role.value, _hasher().hash(password), codes, _iso(_now(None)), created_by
        )
        case.store.append_audit(
            "user_added", created_by, {"name": name, "role": role.value, "scope": list(codes)}
        )
    return NewUser(Account(user_id, name, role, codes), generated)


def list_users(ref: CaseRef) -> tuple[Account, ...]:
    """Every enabled account, by name."""
    with opened_readonly(ref) as case:
        return tuple(_account(r) for r in _store(case).users() if not r.disabled)


def disable_user(ref: CaseRef, name: str, by: str | None) -> None:
    """The account can no longer log in; its sessions end now."""
    with opened(ref) as case:
        store = _store(case)
        row = store.user(name)
        if row is None or row.disabled:
            raise ServiceError(ErrorCode.MISUSE, f"no enabled user named {name}")
        ended = store.disable(row.id)
        case.store.append_audit("user_disabled", by, {"name": name, "sessions_ended": ended})


def _wait_minutes(failures: tuple[str, ...], limit: int, now: datetime) -> int | None:
    """Minutes until fewer than ``limit`` of ``failures`` are in the window, or None."""
    if len(failures) < limit:
        return None
    leaves = datetime.fromisoformat(failures[len(failures) - limit]) + WINDOW
    return max(1, math.ceil((leaves - now).total_seconds() / 60))


def login(
    h: CaseHandle, name: str, password: str, remote: str, now: datetime | None = None
) -> LoginResult:
    """A new session for ``name``; ``UNAUTHENTICATED`` for a wrong name or password (one
    answer for both), ``RATE_LIMITED`` after too many failures."""
    t = _now(now)
    at = _iso(t)
    since = _iso(t - WINDOW)
    with h.writing() as case:
        store = _store(case)
        wait = _wait_minutes(
            store.name_failures_since(name, since), NAME_FAILURES, t
        ) or _wait_minutes(store.remote_failures_since(remote, since), REMOTE_FAILURES, t)
        if wait is not None:
            case.store.append_audit(
                "login_failed", None, {"name": name, "remote": remote, "reason": "rate_limited"}
            )
            raise ServiceError(
                ErrorCode.RATE_LIMITED,
                f"too many failed logins: wait {wait} minute{'s' if wait != 1 else ''}",
            )
        row = store.user(name)
        from argon2.exceptions import VerificationError

        ok = False
        try:
            _hasher().verify(row.password_hash if row else _dummy_hash(), password)
            ok = row is not None and not row.disabled
        except VerificationError:
            ok = False
        store.add_attempt(name, remote, at, ok)
        if not ok or row is None:
            reason = "unknown_name" if row is None else "disabled" if row.disabled else "password"
            case.store.append_audit(
                "login_failed", None, {"name": name, "remote": remote, "reason": reason}
            )
            raise ServiceError(ErrorCode.UNAUTHENTICATED, WRONG)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = _iso(t + timedelta(hours=SESSION_HOURS))
        store.add_session(_sha(token), row.id, csrf, at, expires)
        case.store.append_audit("login", row.name, {"name": row.name, "remote": remote})
    return LoginResult(_account(row), token, csrf, expires)


def session(h: CaseHandle, token: str, now: datetime | None = None) -> SessionInfo | None:
    """The live session of ``token``: None when unknown, expired or its user is disabled."""
    if not token:
        return None
    t = _iso(_now(now))
    with h.reading() as case:
        store = _store(case)
        row = store.session(_sha(token))
        if row is None or row.expires_at <= t:
            return None
        user = store.user_by_id(row.user_id)
    if user is None or user.disabled:
        return None
    return SessionInfo(_account(user), row.csrf_token, row.expires_at)


def logout(h: CaseHandle, token: str) -> None:
    """End the session of ``token`` (nothing when there is none)."""
    with h.writing() as case:
        store = _store(case)
        row = store.session(_sha(token))
        if row is None:
            return
        user = store.user_by_id(row.user_id)
        store.delete_session(row.token_sha256)
        name = user.name if user else None
        case.store.append_audit("logout", name, {"name": name})


__all__ = [
    "LoginResult",
    "NewUser",
    "SessionInfo",
    "add_user",
    "disable_user",
    "list_users",
    "login",
    "logout",
    "session",
]
