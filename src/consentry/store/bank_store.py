"""All SQL of the matching service's database (tables: ``bank_schema``): SQLite by default,
PostgreSQL for production, several worker processes on one database.

Transactions: ``BankStore.read()`` and ``BankStore.write()`` hand out a connection; every
method here takes it, so one service call is one transaction (its change rows and its audit
event commit together or not at all). Writers are serialised on both databases — SQLite with
``BEGIN IMMEDIATE`` (a deferred transaction that reads and then writes fails at once with
"database is locked" when another process wrote in between, instead of waiting), PostgreSQL
with ``LOCK TABLE service_audit IN EXCLUSIVE MODE`` — because the audit log is a hash chain (each
row needs the previous row's hash) and ``signal_changes.seq`` must commit in order (see
``bank_schema.SignalChange``). Readers are never blocked.

The hot path of a lookup never reaches this module: the service answers from its in-memory
indexes and reads here only at sync time (``changes_since``, ``bank_flags``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)

from consentry.store.audit import GENESIS, canonical_json, event_hash
from consentry.store.bank_schema import (
    SCHEMA_VERSION,
    ApiKeyRow,
    BankBase,
    BankRow,
    ContentRow,
    FaceTemplateRow,
    PersonRow,
    ServiceAuditRow,
    ServiceMeta,
    SignalChange,
    SignalRow,
    WithdrawalRow,
)

INSERT_BLOCK = 5000  # content items a multi-row INSERT carries (insert_contents)

META: Table = ServiceMeta.__table__  # type: ignore[assignment]
BANKS: Table = BankRow.__table__  # type: ignore[assignment]
CONTENT: Table = ContentRow.__table__  # type: ignore[assignment]
SIGNALS: Table = SignalRow.__table__  # type: ignore[assignment]
CHANGES: Table = SignalChange.__table__  # type: ignore[assignment]
PERSONS: Table = PersonRow.__table__  # type: ignore[assignment]
TEMPLATES: Table = FaceTemplateRow.__table__  # type: ignore[assignment]
WITHDRAWALS: Table = WithdrawalRow.__table__  # type: ignore[assignment]
KEYS: Table = ApiKeyRow.__table__  # type: ignore[assignment]
AUDIT: Table = ServiceAuditRow.__table__  # type: ignore[assignment]

_WRITE = "consentry_write"


class SchemaTooNew(RuntimeError):
    """The database was written by a newer consentry (its schema version is higher)."""


@dataclass(frozen=True)
class BankRec:
    id: int
    name: str
    enabled: bool
    matching_enabled_ratio: float
    kind: str
    created_at: str
    content_count: int = 0


@dataclass(frozen=True)
class SignalRec:
    id: int
    signal_type: str
    value: str
    quality: int | None


@dataclass(frozen=True)
class ContentRec:
    id: int
    bank_id: int
    bank_name: str
    enabled: bool
    note: str | None
    metadata_json: str
    origin: str
    person_id: int | None
    created_at: str
    updated_at: str
    signals: tuple[SignalRec, ...]


@dataclass(frozen=True)
class NewContent:
    """One content item to insert: its signals as (signal_type, value, quality)."""

    signals: tuple[tuple[str, str, int | None], ...]
    note: str | None = None
    metadata_json: str = "{}"
    origin: str = "api"
    person_id: int | None = None


@dataclass(frozen=True)
class ChangeRec:
    """A ``signal_changes`` row joined with its content's bank and metadata (None when the
    content was deleted since: a later ``remove`` row follows)."""

    seq: int
    signal_id: int
    content_id: int
    signal_type: str
    value: str
    op: str
    bank_id: int | None
    metadata_json: str | None


@dataclass(frozen=True)
class PersonRec:
    id: int
    label: str
    consent_json: str
    owner_key_id: int | None
    created_at: str
    templates: int
    contents: int


@dataclass(frozen=True)
class KeyRec:
    id: int
    prefix: str
    secret_hash: str
    role: str
    name: str
    rate_per_minute: int
    max_body_bytes: int
    created_at: str
    disabled_at: str | None


@dataclass(frozen=True)
class AuditRec:
    seq: int
    at: str
    actor: str
    action: str
    payload_json: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class PurgeCounts:
    contents: int
    signals: int
    templates: int


def default_url(home: Path) -> str:
    return f"sqlite:///{home / 'service.sqlite'}"


def open_bank_engine(url: str) -> Engine:
    """Connect, create the tables if missing and bring ``service_meta.schema_version`` to
    ``SCHEMA_VERSION`` (``upgrade``); ``SchemaTooNew`` when the database is newer."""
    engine = create_engine(url, future=True, pool_pre_ping=engine_is_pg(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    store = BankStore(engine)
    with store.write(schema=True) as conn:
        BankBase.metadata.create_all(conn)
        found = conn.execute(select(META.c.value).where(META.c.key == "schema_version")).scalar()
        if found is None:
            conn.execute(insert(META).values(key="schema_version", value=str(SCHEMA_VERSION)))
        elif int(found) > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the service database has schema version {found}; this consentry knows "
                f"{SCHEMA_VERSION}: upgrade consentry"
            )
        elif int(found) < SCHEMA_VERSION:
            upgrade(conn, int(found))
            conn.execute(
                update(META).where(META.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
            )
    return engine


def engine_is_pg(url: str) -> bool:
    return url.startswith("postgresql")


def upgrade(conn: Connection, from_version: int) -> None:
    """Schema steps from ``from_version`` to ``SCHEMA_VERSION`` (none yet: version 1 is the
    first). Add one ``if from_version < N:`` block per bump."""
    del conn, from_version


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by _sqlite_begin
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the one writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _bank(r: Any, count: int = 0) -> BankRec:
    return BankRec(
        r.id, r.name, bool(r.enabled), float(r.matching_enabled_ratio), r.kind, r.created_at, count
    )


def _key(r: Any) -> KeyRec:
    return KeyRec(
        r.id,
        r.prefix,
        r.secret_hash,
        r.role,
        r.name,
        r.rate_per_minute,
        r.max_body_bytes,
        r.created_at,
        r.disabled_at,
    )


class BankStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.is_pg = engine.dialect.name == "postgresql"

    # -- transactions --------------------------------------------------------------------------
    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; ``snapshot``: every statement sees the same state (PostgreSQL
        REPEATABLE READ; a SQLite transaction always does), for the index build."""
        with self.engine.connect() as conn:
            if snapshot and self.is_pg:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self, *, schema: bool = False) -> Iterator[Connection]:
        """One write transaction, serialised against every other writer (module docstring)."""
        with self.engine.connect().execution_options(**{_WRITE: True}) as conn, conn.begin():
            if self.is_pg:
                if schema:  # tables may not exist yet: serialise create_all on a lock number
                    conn.execute(text("SELECT pg_advisory_xact_lock(150015)"))
                else:
                    conn.execute(text("LOCK TABLE service_audit IN EXCLUSIVE MODE"))
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    # -- banks ---------------------------------------------------------------------------------
    def banks(self, conn: Connection, *, counts: bool = True) -> list[BankRec]:
        rows = conn.execute(select(BANKS).order_by(BANKS.c.name)).all()
        found: dict[int, int] = {}
        if counts:
            found = {
                int(bank_id): int(n)
                for bank_id, n in conn.execute(
                    select(CONTENT.c.bank_id, func.count()).group_by(CONTENT.c.bank_id)
                ).all()
            }
        return [_bank(r, found.get(r.id, 0)) for r in rows]

    def bank(self, conn: Connection, name: str, *, counts: bool = True) -> BankRec | None:
        r = conn.execute(select(BANKS).where(BANKS.c.name == name)).first()
        if r is None:
            return None
        n = 0
        if counts:
            n = int(
                conn.execute(
                    select(func.count()).select_from(CONTENT).where(CONTENT.c.bank_id == r.id)
                ).scalar_one()
            )
        return _bank(r, n)

    def insert_bank(
        self, conn: Connection, name: str, enabled: bool, ratio: float, kind: str, at: str
    ) -> int:
        result = conn.execute(
            insert(BANKS).values(
                name=name, enabled=enabled, matching_enabled_ratio=ratio, kind=kind, created_at=at
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def update_bank(self, conn: Connection, bank_id: int, **values: Any) -> None:
        if values:
            conn.execute(update(BANKS).where(BANKS.c.id == bank_id).values(**values))

    def delete_bank(self, conn: Connection, bank_id: int, at: str) -> tuple[int, int]:
        """Delete a bank, its content and signals; ``remove`` change rows for every signal.
        Returns (contents, signals) deleted."""
        contents = select(CONTENT.c.id).where(CONTENT.c.bank_id == bank_id)
        signals = self._remove_changes(conn, SIGNALS.c.content_id.in_(contents), at)
        n_contents = conn.execute(delete(CONTENT).where(CONTENT.c.bank_id == bank_id)).rowcount
        conn.execute(delete(BANKS).where(BANKS.c.id == bank_id))
        return int(n_contents or 0), signals

    # -- content -------------------------------------------------------------------------------
    def insert_contents(
        self, conn: Connection, bank_id: int, items: Sequence[NewContent], at: str
    ) -> list[tuple[int, int]]:
        """Insert content items with their signals and ``add`` change rows; (content id,
        signals inserted) per item. Signals repeated within an item are stored once.

        In blocks of ``INSERT_BLOCK`` items, three multi-row statements a block (contents,
        signals, changes: RETURNING in parameter order), not three statements an item: an
        import of 100,000 hashes went from ~33 s to a few seconds."""
        out: list[tuple[int, int]] = []
        for start in range(0, len(items), INSERT_BLOCK):
            block = items[start : start + INSERT_BLOCK]
            content_ids = [
                int(c)
                for c in conn.execute(
                    insert(CONTENT).returning(CONTENT.c.id, sort_by_parameter_order=True),
                    [
                        {
                            "bank_id": bank_id,
                            "enabled": True,
                            "note": item.note,
                            "metadata_json": item.metadata_json,
                            "origin": item.origin,
                            "person_id": item.person_id,
                            "created_at": at,
                            "updated_at": at,
                        }
                        for item in block
                    ],
                ).scalars()
            ]
            signal_rows: list[dict[str, object]] = []
            for content_id, item in zip(content_ids, block, strict=True):
                unique = list({(t, v): q for t, v, q in item.signals}.items())
                out.append((content_id, len(unique)))
                signal_rows.extend(
                    {"content_id": content_id, "signal_type": t, "value": v, "quality": q}
                    for (t, v), q in unique
                )
            if not signal_rows:
                continue
            signal_ids = conn.execute(
                insert(SIGNALS).returning(SIGNALS.c.id, sort_by_parameter_order=True),
                signal_rows,
            ).scalars()
            conn.execute(
                insert(CHANGES),
                [
                    {
                        "signal_id": int(sid),
                        "content_id": row["content_id"],
                        "signal_type": row["signal_type"],
                        "value": row["value"],
                        "op": "add",
                        "at": at,
                    }
                    for sid, row in zip(signal_ids, signal_rows, strict=True)
                ],
            )
        return out

    def content(self, conn: Connection, content_id: int) -> ContentRec | None:
        r = conn.execute(
            select(CONTENT, BANKS.c.name.label("bank_name"))
            .join(BANKS, BANKS.c.id == CONTENT.c.bank_id)
            .where(CONTENT.c.id == content_id)
        ).first()
        if r is None:
            return None
        sigs = conn.execute(
            select(SIGNALS).where(SIGNALS.c.content_id == content_id).order_by(SIGNALS.c.id)
        ).all()
        return ContentRec(
            r.id,
            r.bank_id,
            r.bank_name,
            bool(r.enabled),
            r.note,
            r.metadata_json,
            r.origin,
            r.person_id,
            r.created_at,
            r.updated_at,
            tuple(SignalRec(s.id, s.signal_type, s.value, s.quality) for s in sigs),
        )

    def update_content(
        self,
        conn: Connection,
        content_id: int,
        at: str,
        *,
        enabled: bool | None = None,
        note: str | None = None,
        metadata_json: str | None = None,
        set_note: bool = False,
        readd: bool = False,
    ) -> None:
        """Change a content item. Disabling writes ``remove`` rows for its signals, enabling
        (or ``readd``, after a metadata change) ``add`` rows, so workers pick it up."""
        values: dict[str, Any] = {"updated_at": at}
        if enabled is not None:
            values["enabled"] = enabled
        if set_note:
            values["note"] = note
        if metadata_json is not None:
            values["metadata_json"] = metadata_json
        conn.execute(update(CONTENT).where(CONTENT.c.id == content_id).values(**values))
        where = SIGNALS.c.content_id == content_id
        if enabled is False:
            self._remove_changes(conn, where, at)
        elif enabled is True or readd:
            self._add_changes(conn, where, at)

    def delete_content(self, conn: Connection, content_ids: Sequence[int], at: str) -> int:
        """Delete content items (their signals cascade); the number of signals removed."""
        if not content_ids:
            return 0
        n = self._remove_changes(conn, SIGNALS.c.content_id.in_(list(content_ids)), at)
        conn.execute(delete(SIGNALS).where(SIGNALS.c.content_id.in_(list(content_ids))))
        conn.execute(delete(CONTENT).where(CONTENT.c.id.in_(list(content_ids))))
        return n

    def contents(
        self, conn: Connection, bank_id: int
    ) -> Iterator[tuple[int, str | None, tuple[str, str, int | None]]]:
        """(content id, note, signals rows) of a bank, in id order, for an export."""
        rows = conn.execute(
            select(
                SIGNALS.c.content_id,
                CONTENT.c.note,
                SIGNALS.c.signal_type,
                SIGNALS.c.value,
                SIGNALS.c.quality,
            )
            .join(CONTENT, CONTENT.c.id == SIGNALS.c.content_id)
            .where(CONTENT.c.bank_id == bank_id)
            .order_by(SIGNALS.c.content_id, SIGNALS.c.id)
        )
        for r in rows:
            yield int(r[0]), r[1], (r[2], r[3], r[4])

    def _remove_changes(self, conn: Connection, where: Any, at: str) -> int:
        return self._changes(conn, where, "remove", at)

    def _add_changes(self, conn: Connection, where: Any, at: str) -> int:
        return self._changes(conn, where, "add", at)

    def _changes(self, conn: Connection, where: Any, op: str, at: str) -> int:
        from sqlalchemy import literal

        src = select(
            SIGNALS.c.id,
            SIGNALS.c.content_id,
            SIGNALS.c.signal_type,
            SIGNALS.c.value,
            literal(op),
            literal(at),
        ).where(where)
        result = conn.execute(
            insert(CHANGES).from_select(
                ["signal_id", "content_id", "signal_type", "value", "op", "at"], src
            )
        )
        return int(result.rowcount or 0)

    # -- the indexes' feed ---------------------------------------------------------------------
    def max_seq(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(CHANGES.c.seq), 0))).scalar_one())

    def max_signal_id(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(SIGNALS.c.id), 0))).scalar_one())

    def count_signals(self, conn: Connection, signal_type: str) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(SIGNALS)
                .where(SIGNALS.c.signal_type == signal_type)
            ).scalar_one()
        )

    def max_content_id(self, conn: Connection) -> int:
        return int(conn.execute(select(func.coalesce(func.max(CONTENT.c.id), 0))).scalar_one())

    def changes_since(self, conn: Connection, seq: int, limit: int = 50_000) -> list[ChangeRec]:
        rows = conn.execute(
            select(
                CHANGES.c.seq,
                CHANGES.c.signal_id,
                CHANGES.c.content_id,
                CHANGES.c.signal_type,
                CHANGES.c.value,
                CHANGES.c.op,
                CONTENT.c.bank_id,
                CONTENT.c.metadata_json,
            )
            .outerjoin(CONTENT, CONTENT.c.id == CHANGES.c.content_id)
            .where(CHANGES.c.seq > seq)
            .order_by(CHANGES.c.seq)
            .limit(limit)
        ).all()
        return [ChangeRec(*r) for r in rows]

    def _agg(self, column: str, sep: str = ",") -> str:
        """SQL: the column's values of a group, concatenated (one pass over the rows, so every
        such aggregate of one query lists the rows in the same order)."""
        if self.is_pg:
            return f"string_agg(CAST({column} AS TEXT), '{sep}' ORDER BY id)"
        return f"group_concat({column}, '{sep}')"

    def scan_contents_packed(
        self, conn: Connection, max_id: int, span: int = 1_048_576
    ) -> Iterator[tuple[int, str, str, str]]:
        """Every content item, by ranges of ``span`` ids, each range one row: (count, ids,
        bank ids, enabled flags as 0/1), comma-separated. The database does the per-row work:
        a 10M-item build makes a few dozen Python strings, not 30M objects."""
        enabled = "CASE WHEN enabled THEN 1 ELSE 0 END"
        query = text(
            f"SELECT count(*), {self._agg('id')}, {self._agg('bank_id')}, {self._agg(enabled)} "
            "FROM bank_content WHERE id > :lo AND id <= :hi"
        )
        for lo in range(0, max_id, span):
            row = conn.execute(query, {"lo": lo, "hi": lo + span}).one()
            if row[0]:
                yield int(row[0]), str(row[1]), str(row[2]), str(row[3])

    def scan_pdq_packed(
        self, conn: Connection, max_id: int, span: int = 262_144
    ) -> Iterator[tuple[int, int, int, int, int, str, str, str]]:
        """The PDQ signals by ranges of ``span`` signal ids, each range one row: (lo, hi,
        count, shortest and longest value, ids, content ids, the values concatenated). When
        a range's values are not all 64 long the caller re-reads it row by row
        (``signals_in_range``) to find and skip the bad ones."""
        query = text(
            f"SELECT count(*), min(length(value)), max(length(value)), {self._agg('id')}, "
            f"{self._agg('content_id')}, {self._agg('value', '')} FROM signals "
            "WHERE id > :lo AND id <= :hi AND signal_type = 'pdq'"
        )
        for lo in range(0, max_id, span):
            row = conn.execute(query, {"lo": lo, "hi": lo + span}).one()
            if row[0]:
                yield (
                    lo,
                    lo + span,
                    int(row[0]),
                    int(row[1]),
                    int(row[2]),
                    str(row[3]),
                    str(row[4]),
                    str(row[5]),
                )

    def signals_in_range(
        self, conn: Connection, lo: int, hi: int, signal_type: str
    ) -> list[tuple[Any, Any, Any, Any]]:
        """(id, content id, type, value) of one type with ``lo < id <= hi``."""
        rows = conn.execute(
            select(
                SIGNALS.c.id, SIGNALS.c.content_id, SIGNALS.c.signal_type, SIGNALS.c.value
            ).where(SIGNALS.c.id > lo, SIGNALS.c.id <= hi, SIGNALS.c.signal_type == signal_type)
        ).all()
        return [tuple(r) for r in rows]

    def scan_other_signals(
        self, conn: Connection, chunk: int = 200_000
    ) -> Iterator[list[tuple[Any, Any, Any, Any]]]:
        """(id, content id, type, value) of every signal that is not a PDQ, in chunks,
        through the driver's own cursor (server-side on PostgreSQL: never all in memory)."""
        sql = "SELECT id, content_id, signal_type, value FROM signals WHERE signal_type <> 'pdq'"
        raw = conn.connection.driver_connection
        assert raw is not None
        cur = raw.cursor(name="consentry_scan") if self.is_pg else raw.cursor()
        cur.execute(sql)
        try:
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    return
                yield rows
        finally:
            cur.close()

    def content_metadata(self, conn: Connection) -> Iterator[tuple[int, str]]:
        """(content id, metadata JSON) of enabled content whose metadata is not empty."""
        rows = conn.execute(
            select(CONTENT.c.id, CONTENT.c.metadata_json).where(
                CONTENT.c.enabled.is_(True), CONTENT.c.metadata_json != "{}"
            )
        )
        for r in rows:
            yield int(r[0]), str(r[1])

    # -- persons and face templates ------------------------------------------------------------
    def insert_person(
        self, conn: Connection, label: str, consent_json: str, owner_key_id: int | None, at: str
    ) -> int:
        result = conn.execute(
            insert(PERSONS).values(
                label=label, consent_json=consent_json, owner_key_id=owner_key_id, created_at=at
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def persons(
        self, conn: Connection, *, owner_key_id: int | None = None, person_id: int | None = None
    ) -> list[PersonRec]:
        templates = (
            select(func.count())
            .select_from(TEMPLATES)
            .where(TEMPLATES.c.person_id == PERSONS.c.id)
            .scalar_subquery()
        )
        contents = (
            select(func.count())
            .select_from(CONTENT)
            .where(CONTENT.c.person_id == PERSONS.c.id)
            .scalar_subquery()
        )
        query = select(PERSONS, templates.label("n_t"), contents.label("n_c")).order_by(
            PERSONS.c.id
        )
        if owner_key_id is not None:
            query = query.where(PERSONS.c.owner_key_id == owner_key_id)
        if person_id is not None:
            query = query.where(PERSONS.c.id == person_id)
        return [
            PersonRec(
                r.id,
                r.label,
                r.consent_json,
                r.owner_key_id,
                r.created_at,
                int(r.n_t),
                int(r.n_c),
            )
            for r in conn.execute(query).all()
        ]

    def insert_template(
        self, conn: Connection, person_id: int, blob: bytes, model: str, at: str
    ) -> int:
        result = conn.execute(
            insert(TEMPLATES).values(person_id=person_id, template=blob, model=model, created_at=at)
        )
        self.bump_templates_version(conn)
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def templates_version(self, conn: Connection) -> str:
        """Changes whenever a template is added or deleted (a cache key for the decrypted
        templates: one row read instead of decrypting them all)."""
        value = conn.execute(select(META.c.value).where(META.c.key == "templates_version")).scalar()
        return str(value or "0")

    def bump_templates_version(self, conn: Connection) -> None:
        new = str(int(self.templates_version(conn)) + 1)
        done = conn.execute(
            update(META).where(META.c.key == "templates_version").values(value=new)
        ).rowcount
        if not done:
            conn.execute(insert(META).values(key="templates_version", value=new))

    def templates(self, conn: Connection) -> list[tuple[int, str, bytes, str]]:
        rows = conn.execute(
            select(TEMPLATES.c.person_id, PERSONS.c.label, TEMPLATES.c.template, TEMPLATES.c.model)
            .join(PERSONS, PERSONS.c.id == TEMPLATES.c.person_id)
            .order_by(TEMPLATES.c.id)
        ).all()
        return [(int(r[0]), str(r[1]), bytes(r[2]), str(r[3])) for r in rows]

    def purge_person(self, conn: Connection, person_id: int, at: str) -> PurgeCounts:
        """Consent withdrawn: the person's face templates, content and signals (with
        ``remove`` change rows, so every worker drops them) and the person row itself."""
        content_ids = [
            int(c)
            for c in conn.execute(
                select(CONTENT.c.id).where(CONTENT.c.person_id == person_id)
            ).scalars()
        ]
        signals = 0
        for start in range(0, len(content_ids), 500):
            signals += self.delete_content(conn, content_ids[start : start + 500], at)
        templates = conn.execute(delete(TEMPLATES).where(TEMPLATES.c.person_id == person_id))
        self.bump_templates_version(conn)
        label = conn.execute(select(PERSONS.c.label).where(PERSONS.c.id == person_id)).scalar()
        if label is not None and self.withdrawn_label(conn, str(label)) is None:
            conn.execute(insert(WITHDRAWALS).values(label=label, person_id=person_id, at=at))
        conn.execute(delete(PERSONS).where(PERSONS.c.id == person_id))
        return PurgeCounts(len(content_ids), signals, int(templates.rowcount or 0))

    def withdrawn_label(self, conn: Connection, label: str) -> str | None:
        """When the person labelled ``label`` withdrew their consent (None: never)."""
        at = conn.execute(select(WITHDRAWALS.c.at).where(WITHDRAWALS.c.label == label)).scalar()
        return str(at) if at is not None else None

    # -- API keys ------------------------------------------------------------------------------
    def insert_key(
        self,
        conn: Connection,
        prefix: str,
        secret_hash: str,
        role: str,
        name: str,
        rate_per_minute: int,
        max_body_bytes: int,
        at: str,
    ) -> int:
        result = conn.execute(
            insert(KEYS).values(
                prefix=prefix,
                secret_hash=secret_hash,
                role=role,
                name=name,
                rate_per_minute=rate_per_minute,
                max_body_bytes=max_body_bytes,
                created_at=at,
                disabled_at=None,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def key_by_prefix(self, conn: Connection, prefix: str) -> KeyRec | None:
        r = conn.execute(select(KEYS).where(KEYS.c.prefix == prefix)).first()
        return _key(r) if r is not None else None

    def key(self, conn: Connection, key_id: int) -> KeyRec | None:
        r = conn.execute(select(KEYS).where(KEYS.c.id == key_id)).first()
        return _key(r) if r is not None else None

    def keys(self, conn: Connection) -> list[KeyRec]:
        return [_key(r) for r in conn.execute(select(KEYS).order_by(KEYS.c.id)).all()]

    def disable_key(self, conn: Connection, key_id: int, at: str) -> None:
        conn.execute(update(KEYS).where(KEYS.c.id == key_id).values(disabled_at=at))

    def disabled_key_ids(self, conn: Connection) -> set[int]:
        return {
            int(k) for k in conn.execute(select(KEYS.c.id).where(KEYS.c.disabled_at.isnot(None)))
        }

    # -- the audit log -------------------------------------------------------------------------
    def append_audit(
        self, conn: Connection, at: str, actor: str, action: str, payload: Any
    ) -> AuditRec:
        """Append one event to the hash chain (inside a ``write()``: writers are serialised,
        so the previous hash read here is still the newest when this row commits)."""
        payload_json = canonical_json(payload)
        prev = conn.execute(select(AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)).scalar()
        prev_hash = str(prev) if prev is not None else GENESIS
        digest = event_hash(at, action, actor, payload_json, prev_hash)
        result = conn.execute(
            insert(AUDIT).values(
                at=at,
                actor=actor,
                action=action,
                payload_json=payload_json,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        seq = int(result.inserted_primary_key[0])  # type: ignore[index]
        return AuditRec(seq, at, actor, action, payload_json, prev_hash, digest)

    def audit_tail(self, conn: Connection, limit: int) -> list[AuditRec]:
        rows = conn.execute(select(AUDIT).order_by(AUDIT.c.seq.desc()).limit(limit)).all()
        return [AuditRec(*r) for r in rows]

    def audit_all(self, conn: Connection, chunk: int = 10_000) -> Iterator[AuditRec]:
        last = 0
        while True:
            rows = conn.execute(
                select(AUDIT).where(AUDIT.c.seq > last).order_by(AUDIT.c.seq).limit(chunk)
            ).all()
            if not rows:
                return
            for r in rows:
                yield AuditRec(*r)
            last = rows[-1].seq


def metadata_json(pairs: Sequence[tuple[str, str]]) -> str:
    return json.dumps(dict(pairs), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


__all__ = [
    "AuditRec",
    "BankRec",
    "BankStore",
    "ChangeRec",
    "ContentRec",
    "KeyRec",
    "NewContent",
    "PersonRec",
    "PurgeCounts",
    "SchemaTooNew",
    "SignalRec",
    "default_url",
    "metadata_json",
    "open_bank_engine",
]
