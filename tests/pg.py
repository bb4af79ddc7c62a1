"""A throwaway PostgreSQL database per test, on the server ``CONSENTRY_TEST_POSTGRES_URL`` names
(.ci/run starts one on loopback); tests that need it skip with ``POSTGRES_SKIP`` otherwise."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_URL = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")
POSTGRES_SKIP = "set CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://... to test PostgreSQL"


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database on the test server, named ``<prefix>_<random>``; dropped afterwards
    (connections still open to it included)."""
    import sqlalchemy as sa

    assert POSTGRES_URL, POSTGRES_SKIP
    server = sa.engine.make_url(POSTGRES_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
