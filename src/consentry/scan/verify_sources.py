"""The read-only guarantee, checked: after a scan, every source file is as it was found.

Size and mtime are compared for every file; where either changed, the SHA-256 is recomputed to
tell a content change from a metadata-only change. Anything found is recorded as a problem on the
location and reported; consentry itself never writes to a source.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from consentry.media.reader import open_readonly
from consentry.records.problems import Code, Problem
from consentry.store.case_store import CaseStore


@dataclass(frozen=True)
class SourceChange:
    location_id: int
    path: str
    code: Code
    message: str


def check_sources(store: CaseStore) -> list[SourceChange]:
    changes: list[SourceChange] = []
    for f in store.disk_files():
        if f.size is None:
            continue  # never read (link loop, pipe, folder link): nothing of it to compare
        try:
            st = os.stat(f.raw_path)
        except FileNotFoundError:
            changes.append(
                SourceChange(
                    f.location_id, f.path, Code.SOURCE_MISSING, "source file no longer exists"
                )
            )
            continue
        except OSError:
            continue  # unreadable now as before; recorded at inventory
        if st.st_size == f.size and st.st_mtime_ns == f.mtime_ns:
            continue
        sha = sha256_of(f.raw_path)
        if f.sha256 and sha and sha != f.sha256:
            msg = f"content changed since it was inventoried (SHA-256 now {sha})"
        else:
            msg = (
                f"size/mtime changed since inventory (size {f.size} -> {st.st_size}, "
                f"mtime_ns {f.mtime_ns} -> {st.st_mtime_ns}); SHA-256 "
                + ("unchanged" if sha == f.sha256 else "not available")
            )
        changes.append(SourceChange(f.location_id, f.path, Code.SOURCE_CHANGED, msg))
    if changes:
        store.add_problems([(c.location_id, Problem(c.code, c.message)) for c in changes])
    return changes


def sha256_of(raw_path: bytes) -> str | None:
    """SHA-256 of a file on disk, read read-only; None when it cannot be read."""
    try:
        with open_readonly(raw_path) as fh:
            h = hashlib.sha256()
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
            return h.hexdigest()
    except Exception:  # noqa: BLE001 - a vanished or locked file is reported by the caller
        return None
