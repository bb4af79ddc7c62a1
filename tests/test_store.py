"""The store's migrations build exactly the schema the code declares, on a portable subset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from consentry.store.database import open_engine, sqlite_url
from consentry.store.schema import Base


def test_migrations_match_models(tmp_path: Path) -> None:
    engine = open_engine(sqlite_url(tmp_path / "s.sqlite"))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def _head() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from consentry.store.database import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def test_reopening_does_not_migrate_twice(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "s.sqlite")
    open_engine(url).dispose()
    engine = open_engine(url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == _head()


def test_sqlite_schema_changes_are_transactional(tmp_path: Path) -> None:
    """A migration interrupted half-way must leave no table behind (killed-scan resume)."""
    from sqlalchemy import inspect, text

    engine = open_engine(sqlite_url(tmp_path / "s.sqlite"))
    with engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
        trans.rollback()
    assert "half_done" not in inspect(engine).get_table_names()


@pytest.mark.skipif(
    not os.environ.get("CONSENTRY_TEST_POSTGRES_URL"),
    reason="set CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://... to test PostgreSQL",
)
def test_scan_into_postgresql(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from consentry.cli.main import main

    from .synthetic import write_jpeg

    write_jpeg(tmp_path / "ev" / "a.jpg", seed=1)
    url = os.environ["CONSENTRY_TEST_POSTGRES_URL"]
    result = CliRunner().invoke(
        main,
        [
            "scan",
            str(tmp_path / "ev"),
            "--case",
            str(tmp_path / "case"),
            "--db",
            url,
            "-q",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = CliRunner().invoke(
        main, ["case", "summary", "--case", str(tmp_path / "case"), "--db", url, "--json"]
    )
    assert '"images": 1' in summary.output
