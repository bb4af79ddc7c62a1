"""The case store: the single truth of a case. SQLite in the case folder by default, any
SQLAlchemy URL (PostgreSQL for the service) with ``--db``. Only portable SQL is used."""

from consentry.store.case_store import CaseStore

__all__ = ["CaseStore"]
