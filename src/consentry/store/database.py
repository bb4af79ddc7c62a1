"""Engine creation and schema migrations (Alembic, run from code on every open)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str) -> Engine:
    """Connect and bring the schema to the latest migration."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        # Python's sqlite3 commits DDL on its own, outside any transaction: a scan killed
        # during a migration then left half a schema ("table already exists" on the next run).
        # Hand transactions to SQLAlchemy so that migrations are all-or-nothing, as writes are.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    # here, not at the top: alembic costs ~0.15 s that `consentry --help` does not need
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # no implicit transactions: see open_engine
    cur = dbapi_conn.cursor()
    # WAL: readers never block the single writer; a killed process leaves a consistent file.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
