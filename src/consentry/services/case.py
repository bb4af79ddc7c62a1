"""How a service opens a case: a ``CaseRef`` names it, ``opened`` (for writing, under the case
lock) or ``opened_readonly`` (no lock: SQLite readers run beside a scan) open it once for the
whole action, and ``ServiceError`` is the one error a service raises.

The store is imported inside the functions: a shell that only builds its interface (``--help``)
loads no database driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from consentry.store.case import Case


class ErrorCode(StrEnum):
    """Why a service refused or stopped; each shell maps these to its own answer (the CLI to
    its exit statuses, ``cli.common.EXIT_*``)."""

    MISUSE = "misuse"  # the request cannot be done as asked (bad option, unknown person...)
    CASE = "case"  # the case folder or its store cannot be used
    TAMPERED = "tampered"  # the audit log does not verify
    SCAN_FAILED = "scan_failed"  # a scan stopped on an error no file causes; re-run resumes
    # the web app's answers (the CLI maps them to misuse)
    NOT_FOUND = "not_found"  # no such id, or not in the account's scope (never say which)
    FORBIDDEN = "forbidden"  # the account's role may not do this
    UNAUTHENTICATED = "unauthenticated"  # wrong name or password, or no live session
    RATE_LIMITED = "rate_limited"  # too many failed logins


class ServiceError(Exception):
    """One line for the person at the shell, and the code that says which kind of failure."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CaseRef:
    """Which case: its folder, and the store's SQLAlchemy URL when it is not the folder's
    case.sqlite."""

    path: Path
    db_url: str | None = None


@contextmanager
def opened(ref: CaseRef, create: bool = False) -> Iterator[Case]:
    """The case, open for writing under its lock for the whole ``with`` block; ``create``
    makes a new case folder. An unusable case is ``ServiceError(CASE)``."""
    from consentry.store.case import CaseError, open_case

    try:
        case = open_case(ref.path, ref.db_url, create=create)
    except CaseError as exc:
        raise ServiceError(ErrorCode.CASE, str(exc)) from None
    with case:
        yield case


@contextmanager
def opened_readonly(ref: CaseRef) -> Iterator[Case]:
    """The existing case, open for reading only (no lock) for the whole ``with`` block."""
    from consentry.store.case import CaseError, open_case_readonly

    try:
        case = open_case_readonly(ref.path, ref.db_url)
    except CaseError as exc:
        raise ServiceError(ErrorCode.CASE, str(exc)) from None
    with case:
        yield case


class CaseHandle:
    """A case kept open by a long-running shell (the web app): one engine for the life of the
    process. ``reading()`` lends it for reads; ``writing()`` takes the case lock for its block
    only (one writer at a time in this process, and none beside another process's writer: a
    running scan makes writes wait up to ``wait_s``, then ``ServiceError(CASE)``).

    Services that a long-running shell calls take a ``CaseHandle``; one-shot services keep
    taking a ``CaseRef`` and ``opened`` / ``opened_readonly``."""

    def __init__(self, ref: CaseRef, wait_s: float = 5.0) -> None:
        import threading

        from consentry.store.case import CaseError, open_case, open_case_readonly

        self.ref = ref
        self.wait_s = wait_s
        self._write = threading.Lock()
        try:
            # one locked open first: creates missing tables (migrations) and the case row
            with open_case(ref.path, ref.db_url):
                pass
            self._case = open_case_readonly(ref.path, ref.db_url)
        except CaseError as exc:
            raise ServiceError(ErrorCode.CASE, str(exc)) from None

    @property
    def path(self) -> Path:
        return self._case.path

    @contextmanager
    def reading(self) -> Iterator[Case]:
        yield self._case

    @contextmanager
    def writing(self) -> Iterator[Case]:
        from consentry.store.case import CaseError, hold_lock, release_lock

        if not self._write.acquire(timeout=self.wait_s):
            raise ServiceError(ErrorCode.CASE, "the case is busy with another change; try again")
        try:
            try:
                hold_lock(self._case, self.wait_s)
            except CaseError:
                raise ServiceError(
                    ErrorCode.CASE,
                    "another consentry process (a scan?) is writing this case; try again when "
                    "it has finished",
                ) from None
            try:
                yield self._case
            finally:
                release_lock(self._case)
        finally:
            self._write.release()

    def close(self) -> None:
        self._case.close()


@contextmanager
def handle(ref: CaseRef) -> Iterator[CaseHandle]:
    """A ``CaseHandle`` for one command of a one-shot shell (the CLI), closed at the end."""
    h = CaseHandle(ref)
    try:
        yield h
    finally:
        h.close()


__all__ = [
    "CaseHandle",
    "handle",
    "CaseRef",
    "ErrorCode",
    "ServiceError",
    "opened",
    "opened_readonly",
]
