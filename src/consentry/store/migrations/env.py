"""Alembic environment: migrations run from code (database.open_engine), on its connection."""

from __future__ import annotations

from alembic import context

from consentry.store.schema import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER needs batch mode
)
with context.begin_transaction():
    context.run_migrations()
