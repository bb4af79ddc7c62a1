"""All SQL of the case's requests and their events (``requests``, ``request_events``).

Codes are ``R0001``, ``R0002``, ...: one more than the highest ever issued, never reused (a
request is never deleted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, Table, func, inspect, select

from consentry.store.schema import CaseRequest, Person, RequestEvent

REQUESTS: Table = CaseRequest.__table__  # type: ignore[assignment]
EVENTS: Table = RequestEvent.__table__  # type: ignore[assignment]
PERSONS: Table = Person.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class RequestRow:
    id: int
    code: str
    person_id: int | None
    person_code: str | None
    person_name: str | None
    kind: str
    asked_by: str
    asked_at: str
    owner: str | None
    status: str
    status_at: str
    due_at: str | None
    detail: str | None
    decline_reason: str | None
    created_by: str


@dataclass(frozen=True)
class RequestEventRow:
    id: int
    request_id: int
    at: str
    actor: str
    status: str
    owner: str | None
    due_at: str | None
    note: str | None


@dataclass(frozen=True)
class NewRequest:
    person_id: int | None
    kind: str
    asked_by: str
    asked_at: str
    owner: str | None
    status: str
    status_at: str
    due_at: str | None
    detail: str | None
    created_by: str


class RequestsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _select(self) -> Select[Any]:
        return select(
            REQUESTS, PERSONS.c.code.label("person_code"), PERSONS.c.name.label("person_name")
        ).select_from(REQUESTS.outerjoin(PERSONS, PERSONS.c.id == REQUESTS.c.person_id))

    def present(self) -> bool:
        """True when the store has the requests tables (a case made before them may not)."""
        return inspect(self.engine).has_table(REQUESTS.name)

    def requests(self) -> list[RequestRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(self._select().order_by(REQUESTS.c.id)).all()
        return [_row(r) for r in rows]

    def request(self, code: str) -> RequestRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(self._select().where(REQUESTS.c.code == code.upper())).first()
        return _row(r) if r else None

    def events(self, request_id: int | None = None) -> list[RequestEventRow]:
        stmt = select(EVENTS).order_by(EVENTS.c.id)
        if request_id is not None:
            stmt = stmt.where(EVENTS.c.request_id == request_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            RequestEventRow(r.id, r.request_id, r.at, r.actor, r.status, r.owner, r.due_at, r.note)
            for r in rows
        ]

    def add(self, new: NewRequest, note: str | None) -> str:
        """Insert the request and its first event; returns the new code."""
        with self.engine.begin() as conn:
            highest = conn.execute(select(func.max(REQUESTS.c.id))).scalar()
            count = conn.execute(select(func.count()).select_from(REQUESTS)).scalar() or 0
            number = max(int(highest or 0), int(count)) + 1
            code = f"R{number:04d}"
            result = conn.execute(
                REQUESTS.insert().values(
                    code=code,
                    person_id=new.person_id,
                    kind=new.kind,
                    asked_by=new.asked_by,
                    asked_at=new.asked_at,
                    owner=new.owner,
                    status=new.status,
                    status_at=new.status_at,
                    due_at=new.due_at,
                    detail=new.detail,
                    decline_reason=None,
                    created_by=new.created_by,
                )
            )
            (request_id,) = result.inserted_primary_key or (None,)
            conn.execute(
                EVENTS.insert().values(
                    request_id=request_id,
                    at=new.status_at,
                    actor=new.created_by,
                    status=new.status,
                    owner=new.owner,
                    due_at=new.due_at,
                    note=note,
                )
            )
        return code

    def update(
        self,
        request_id: int,
        at: str,
        actor: str,
        status: str,
        status_at: str,
        owner: str | None,
        due_at: str | None,
        decline_reason: str | None,
        note: str | None,
    ) -> None:
        """Change the request and add the event that says so."""
        with self.engine.begin() as conn:
            conn.execute(
                REQUESTS.update()
                .where(REQUESTS.c.id == request_id)
                .values(
                    status=status,
                    status_at=status_at,
                    owner=owner,
                    due_at=due_at,
                    decline_reason=decline_reason,
                )
            )
            conn.execute(
                EVENTS.insert().values(
                    request_id=request_id,
                    at=at,
                    actor=actor,
                    status=status,
                    owner=owner,
                    due_at=due_at,
                    note=note,
                )
            )


def _row(r: object) -> RequestRow:
    m = r._mapping  # type: ignore[attr-defined]
    return RequestRow(
        id=m["id"],
        code=m["code"],
        person_id=m["person_id"],
        person_code=m["person_code"],
        person_name=m["person_name"],
        kind=m["kind"],
        asked_by=m["asked_by"],
        asked_at=m["asked_at"],
        owner=m["owner"],
        status=m["status"],
        status_at=m["status_at"],
        due_at=m["due_at"],
        detail=m["detail"],
        decline_reason=m["decline_reason"],
        created_by=m["created_by"],
    )


__all__ = ["NewRequest", "RequestEventRow", "RequestRow", "RequestsStore"]
