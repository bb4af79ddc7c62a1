"""Where a command may write: never into evidence, never over a file unless asked.

Every command that writes a file the examiner names (reports, hash packs, notices) or files of
its own (derivation renders) goes through one ``OutputGuard`` made from the case's recorded
sources (``guard_for_case``). It refuses, with one line (``UnsafeOutput``):

- a path inside a source of the case, or equal to one (a source may be a single file), also
  when the path resolves into a source through a symbolic link anywhere along it;
- a path onto the case's own records (``case.json``, the store, the audit head, the template
  key, thumbnails, derivation renders);
- an existing file (or a link, even a dangling one), unless ``force``; with ``force`` the old
  entry is removed first, so a link is replaced and never written through.

``scan`` keeps its own check that the case folder is not inside a source
(``pipeline.check_sources_usable``); this module covers everything written afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from consentry.store.case import CASE_FILE, DB_FILE, HEAD_FILE

if TYPE_CHECKING:
    from consentry.store import CaseStore

# the case's own records, relative to the case folder: never a report's target
CASE_RECORDS = (CASE_FILE, DB_FILE, HEAD_FILE, "keys", "thumbs", "derivation")
DB_SIDE_FILES = ("-wal", "-shm", "-journal")


SIDECAR_SUFFIX = ".sha256"  # every written file's hash goes beside it (reports.formats)


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


# for library callers that name no case (tests, scripts): no source known, overwrite allowed
def unguarded() -> OutputGuard:
    return OutputGuard((), "", force=True)


class UnsafeOutput(ValueError):
    """An output path that would write into evidence, over the case's records, or over an
    existing file without ``--force`` (one line for the examiner)."""


def _forms(path: str | bytes | Path) -> set[str]:
    """The path as given (absolute, not resolved) and resolved through every link."""
    text = os.fsdecode(path)
    return {os.path.abspath(text), os.path.realpath(text)}


def _within(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


@dataclass(frozen=True)
class OutputGuard:
    sources: tuple[str, ...]  # the case's sources as recorded (absolute)
    case_dir: str = ""
    force: bool = False

    @classmethod
    def of(
        cls, sources: Sequence[str | bytes], case_dir: Path | str | None = None, force: bool = False
    ) -> OutputGuard:
        return cls(tuple(os.fsdecode(s) for s in sources), str(case_dir or ""), force)

    def source_of(self, path: Path | str) -> str | None:
        """The source that ``path`` is in (or resolves into), or None."""
        forms = _forms(path)
        for src in self.sources:
            if any(_within(form, root) for form in forms for root in _forms(src)):
                return src
        return None

    def check_folder(self, folder: Path) -> None:
        """A folder to write into (it may exist): not inside a source nor the case's records."""
        src = self.source_of(folder)
        if src is not None:
            raise UnsafeOutput(
                f"{folder} is inside source {src} of the case: it would write into evidence"
            )
        self._not_records(folder)

    def check_case_folder(self) -> None:
        """Before a command writes into the case folder itself (derivation renders): the
        folder must not be (or, through a link, resolve) inside a source."""
        src = self.source_of(self.case_dir) if self.case_dir else None
        if src is not None:
            raise UnsafeOutput(
                f"the case folder {self.case_dir} is inside source {src}: it would write into "
                "evidence"
            )

    def check(self, path: Path) -> None:
        """A file about to be written: the folder rules, and no existing entry unless forced."""
        self.check_folder(path)
        if os.path.isdir(path) and not os.path.islink(path):
            raise UnsafeOutput(f"{path} is a folder; give a file name")
        if os.path.lexists(path) and not self.force:
            raise UnsafeOutput(f"{path} exists; give another path, or --force to replace it")

    def check_outputs(self, paths: Iterable[Path]) -> None:
        """``check`` each file and the ``FILE.sha256`` written beside it, before any is written."""
        for p in paths:
            self.check(p)
            self.check(sidecar(p))

    def prepare(self, path: Path) -> Path:
        """``check`` it, then (forced) remove the old entry so the new file is a new inode: a
        link there is replaced, never written through."""
        self.check(path)
        if os.path.lexists(path):
            os.unlink(path)
        return path

    def write_text(self, path: Path, text: str) -> Path:
        """Create ``path`` with ``text`` (UTF-8), refusing as ``check`` does. The file is opened
        exclusively and without following a link, so nothing already there is written to."""
        self.prepare(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return path

    def _not_records(self, path: Path) -> None:
        if not self.case_dir:
            return
        case_forms = _forms(self.case_dir)
        for form in _forms(path):
            for case_form in case_forms:
                if not _within(form, case_form) or form == case_form.rstrip("/"):
                    continue
                first = form[len(case_form.rstrip("/")) + 1 :].split("/", 1)[0]
                records = {*CASE_RECORDS, *(DB_FILE + s for s in DB_SIDE_FILES)}
                if first in records:
                    raise UnsafeOutput(f"{path} is one of the case's own records ({first})")


def recorded_sources(store: CaseStore) -> list[bytes]:
    """Every source the case's scans recorded (raw paths, as scanned)."""
    from consentry.store.case_store import SOURCES

    with store.engine.connect() as conn:
        return [bytes(r.raw_path) for r in conn.execute(select(SOURCES.c.raw_path))]


def guard_for_case(store: CaseStore, case_dir: Path, force: bool = False) -> OutputGuard:
    return OutputGuard.of(recorded_sources(store), case_dir, force)


__all__ = [
    "CASE_RECORDS",
    "SIDECAR_SUFFIX",
    "OutputGuard",
    "UnsafeOutput",
    "guard_for_case",
    "recorded_sources",
    "sidecar",
    "unguarded",
]
