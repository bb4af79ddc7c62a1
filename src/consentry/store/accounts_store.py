"""All SQL for the web app's accounts: users, server-side login sessions, login attempts.

A session row holds only the SHA-256 of the cookie's token, so a copy of the store does not let
anyone log in. Passwords are argon2id hashes made by ``services.accounts``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, func, select, update

from consentry.store.schema import LoginAttempt, User, WebSession

USERS: Table = User.__table__  # type: ignore[assignment]
SESSIONS: Table = WebSession.__table__  # type: ignore[assignment]
ATTEMPTS: Table = LoginAttempt.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    role: str
    password_hash: str
    scope: tuple[str, ...]
    disabled: bool
    created_at: str
    created_by: str | None


@dataclass(frozen=True)
class SessionRow:
    token_sha256: str
    user_id: int
    csrf_token: str
    created_at: str
    expires_at: str


def _user(r: Any) -> UserRow:
    return UserRow(
        r.id,
        r.name,
        r.role,
        r.password_hash,
        tuple(json.loads(r.scope)),
        bool(r.disabled),
        r.created_at,
        r.created_by,
    )


class AccountsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users ---------------------------------------------------------------------------------
    def add_user(
        self,
        name: str,
        role: str,
        password_hash: str,
        scope: tuple[str, ...],
        created_at: str,
        created_by: str | None,
    ) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                USERS.insert().values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    scope=json.dumps(list(scope)),
                    disabled=False,
                    created_at=created_at,
                    created_by=created_by,
                )
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def user(self, name: str) -> UserRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(USERS).where(USERS.c.name == name)).first()
        return _user(r) if r is not None else None

    def user_named_like(self, name: str) -> UserRow | None:
        """The user whose name equals ``name`` ignoring case (names must differ by more)."""
        with self.engine.connect() as conn:
            r = conn.execute(select(USERS).where(func.lower(USERS.c.name) == name.lower())).first()
        return _user(r) if r is not None else None

    def user_by_id(self, user_id: int) -> UserRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(USERS).where(USERS.c.id == user_id)).first()
        return _user(r) if r is not None else None

    def users(self) -> list[UserRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(USERS).order_by(USERS.c.name)).all()
        return [_user(r) for r in rows]

    def disable(self, user_id: int) -> int:
        """Disable the user and end their sessions; the number of sessions ended."""
        with self.engine.begin() as conn:
            conn.execute(update(USERS).where(USERS.c.id == user_id).values(disabled=True))
            result = conn.execute(delete(SESSIONS).where(SESSIONS.c.user_id == user_id))
        return int(result.rowcount or 0)

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(USERS).where(USERS.c.id == user_id).values(password_hash=password_hash)
            )

    # -- sessions ------------------------------------------------------------------------------
    def add_session(
        self, token_sha256: str, user_id: int, csrf_token: str, created_at: str, expires_at: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                SESSIONS.insert().values(
                    token_sha256=token_sha256,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=created_at,
                    expires_at=expires_at,
                    last_seen=created_at,
                )
            )

    def session(self, token_sha256: str) -> SessionRow | None:
        with self.engine.connect() as conn:
            s = conn.execute(
                select(SESSIONS).where(SESSIONS.c.token_sha256 == token_sha256)
            ).first()
        if s is None:
            return None
        return SessionRow(s.token_sha256, s.user_id, s.csrf_token, s.created_at, s.expires_at)

    def delete_session(self, token_sha256: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(delete(SESSIONS).where(SESSIONS.c.token_sha256 == token_sha256))
        return bool(result.rowcount)

    def delete_expired_sessions(self, now_iso: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now_iso))
        return int(result.rowcount or 0)

    # -- login attempts (rate limit) -----------------------------------------------------------
    def add_attempt(self, name: str, remote: str, at: str, ok: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(ATTEMPTS.insert().values(name=name, remote=remote, at=at, ok=ok))

    def name_failures_since(self, name: str, since_iso: str) -> tuple[str, ...]:
        """Times of the failed logins for ``name`` since ``since_iso``, oldest first."""
        return self._failures(since_iso, ATTEMPTS.c.name == name)

    def remote_failures_since(self, remote: str, since_iso: str) -> tuple[str, ...]:
        """Times of the failed logins from ``remote`` since ``since_iso``, oldest first."""
        return self._failures(since_iso, ATTEMPTS.c.remote == remote)

    def _failures(self, since_iso: str, which: Any) -> tuple[str, ...]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ATTEMPTS.c.at)
                .where(and_(which, ATTEMPTS.c.at >= since_iso, ATTEMPTS.c.ok.is_(False)))
                .order_by(ATTEMPTS.c.at)
            ).all()
        return tuple(r.at for r in rows)


__all__ = ["AccountsStore", "SessionRow", "UserRow"]
