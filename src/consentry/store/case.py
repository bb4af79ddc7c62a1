"""The case folder: the store, the audit head, and a lock so two processes never write at once.

Layout::

    CASE_DIR/case.json     case id, creation time, tool version, which database
    CASE_DIR/case.sqlite   the store (unless --db names another database)
    CASE_DIR/audit.head    newest audit event (seq + hash), to detect truncation of the log
    CASE_DIR/.lock         advisory lock held while a command writes the case
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from consentry import __version__
from consentry.store import CaseStore, audit
from consentry.store.database import open_engine, sqlite_url
from consentry.store.links_store import LinksStore
from consentry.store.persons_store import PersonsStore

CASE_FILE = "case.json"
DB_FILE = "case.sqlite"
HEAD_FILE = "audit.head"


class CaseError(Exception):
    """The case folder cannot be used (one-line reason for the examiner)."""


@dataclass
class Case:
    path: Path
    case_id: str
    store: CaseStore
    _lock: IO[str] | None = None
    _persons: PersonsStore | None = None
    _links: LinksStore | None = None

    @property
    def persons(self) -> PersonsStore:
        """The persons, templates, matches and clusters of this case (same engine)."""
        if self._persons is None:
            self._persons = PersonsStore(self.store.engine)
        return self._persons

    @property
    def links(self) -> LinksStore:
        """The derivation features, pairs and links of this case (same engine)."""
        if self._links is None:
            self._links = LinksStore(self.store.engine)
        return self._links

    def close(self) -> None:
        self.store.engine.dispose()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Case:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_case(path: Path, db_url: str | None = None, create: bool = False) -> Case:
    """Open (or with ``create``, create) a case folder and take its write lock."""
    path = path.absolute()
    case_file = path / CASE_FILE
    if path.exists() and not path.is_dir():
        raise CaseError(f"case folder {path} is a file, not a folder")
    if not case_file.exists():
        if not create:
            raise CaseError(f"{path} is not a consentry case (no {CASE_FILE}); run a scan first")
        if path.exists() and any(path.iterdir()):
            raise CaseError(
                f"{path} is not empty and not a consentry case: choose a new or empty folder"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaseError(f"cannot create case folder {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise CaseError(f"case folder {path} is not writable")
    lock = _take_lock(path)
    try:
        meta = _read_or_create_meta(case_file, db_url)
        url = db_url or sqlite_url(path / DB_FILE)
        if meta.get("db") == "external" and not db_url:
            raise CaseError(f"this case keeps its store in {meta.get('db_display')}: pass --db URL")
        try:
            engine = open_engine(url)
        except SQLAlchemyError as exc:
            raise CaseError(
                f"cannot open the case store: {exc.__class__.__name__}: {exc}"
            ) from None
        store = CaseStore(engine, head_path=path / HEAD_FILE)
        case = Case(path, meta["case_id"], store, lock)
        if store.get_info("case_id") is None:
            store.set_info("case_id", meta["case_id"])
            store.append_audit(
                "case_created",
                None,
                {
                    "case_id": meta["case_id"],
                    "tool_version": __version__,
                    "db": meta.get("db_display", DB_FILE),
                },
            )
        elif store.get_info("case_id") != meta["case_id"]:
            raise CaseError("the store belongs to another case (case ids differ)")
        return case
    except BaseException:
        lock.close()
        raise


def open_case_readonly(path: Path, db_url: str | None = None) -> Case:
    """Open an existing case for reading (no lock: SQLite WAL lets readers run beside a scan)."""
    path = path.absolute()
    case_file = path / CASE_FILE
    if not case_file.exists():
        raise CaseError(f"{path} is not a consentry case (no {CASE_FILE})")
    meta = json.loads(case_file.read_text(encoding="utf-8"))
    if meta.get("db") == "external" and not db_url:
        raise CaseError(f"this case keeps its store in {meta.get('db_display')}: pass --db URL")
    try:
        engine = open_engine(db_url or sqlite_url(path / DB_FILE))
    except SQLAlchemyError as exc:
        raise CaseError(f"cannot open the case store: {exc}") from None
    return Case(path, meta["case_id"], CaseStore(engine, head_path=path / HEAD_FILE))


def hold_lock(case: Case, wait_s: float = 5.0) -> None:
    """Take the write lock of an already open (read-only) ``case``, waiting up to ``wait_s``
    seconds for another process to let go; ``release_lock`` gives it back. A long-running shell
    (the web app) keeps one engine and holds the lock only while it writes."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            case._lock = _take_lock(case.path)
            return
        except CaseError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def release_lock(case: Case) -> None:
    if case._lock is not None:
        case._lock.close()
        case._lock = None


def _take_lock(path: Path) -> IO[str]:
    fh = open(path / ".lock", "a+", encoding="utf-8")  # noqa: SIM115 - held for the case's life
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise CaseError(f"another consentry process is using the case {path}") from None
    return fh


def _read_or_create_meta(case_file: Path, db_url: str | None) -> dict[str, str]:
    if case_file.exists():
        try:
            meta: dict[str, str] = json.loads(case_file.read_text(encoding="utf-8"))
            meta["case_id"]  # noqa: B018 - must exist
        except (ValueError, KeyError, OSError) as exc:
            raise CaseError(f"{case_file} is unreadable or damaged: {exc}") from None
        return meta
    meta = {
        "case_id": str(uuid.uuid4()),
        "created_at": audit.now_iso(),
        "tool": f"consentry {__version__}",
        "db": "external" if db_url else "sqlite",
        # never write a password into the case folder
        "db_display": make_url(db_url).render_as_string(hide_password=True) if db_url else DB_FILE,
    }
    tmp = case_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(case_file)
    return meta
