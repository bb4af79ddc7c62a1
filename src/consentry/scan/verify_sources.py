"""The read-only guarantee, checked: after a scan, every source file is as it was found.

Size and mtime are compared for every file; where either changed, the SHA-256 is recomputed to
tell a content change from a metadata-only change. A disk image's segment files are locations
on disk like any file (size and mtime compared); the files inside the image are not re-read one
by one: the image's bytes are what its segments hold. Anything found is recorded as a problem on the
location and reported; consentry itself never writes to a source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from consentry.media.reader import open_readonly
from consentry.records.file_hash import sha256_of_stream
from consentry.records.problems import Code, Problem
from consentry.store.case_store import CaseStore, DiskFile


@dataclass(frozen=True)
class SourceChange:
    location_id: int
    path: str
    code: Code
    message: str


@dataclass(frozen=True)
class FileNow:
    """One source file on disk now, against what the scan recorded (``compare_with_scan``)."""

    missing: bool = False  # it no longer exists
    stat_error: OSError | None = None  # it exists but cannot be looked at: why
    size: int | None = None  # now; None when missing or not looked at
    mtime_ns: int | None = None
    same_stat: bool = False  # size and mtime as recorded
    rehashed: bool = False
    sha256: str | None = None  # re-hashed now; None when not re-hashed or unreadable now


def compare_with_scan(f: DiskFile, rehash_always: bool) -> FileNow:
    """Look at one recorded file again, read-only: its size and mtime, and its SHA-256 when
    they changed (or always, with ``rehash_always``: the only check that proves the bytes).
    The one source verifier: the scan's read-only check and a report's re-verification both
    use it, and differ only in what they say about the result."""
    try:
        st = os.stat(f.raw_path)
    except FileNotFoundError:
        return FileNow(missing=True)
    except OSError as exc:
        return FileNow(stat_error=exc)
    same = st.st_size == f.size and st.st_mtime_ns == f.mtime_ns
    # nothing to compare a hash with (the segment files of a disk image, whose content is
    # checked by the image's own MD5/SHA-1; a file unreadable at the scan): not re-read
    rehash = f.sha256 is not None and (rehash_always or not same)
    return FileNow(
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        same_stat=same,
        rehashed=rehash,
        sha256=sha256_of(f.raw_path) if rehash else None,
    )


def check_sources(store: CaseStore) -> list[SourceChange]:
    """After a scan: every file it read on disk unchanged? A change is recorded as a problem
    on its location and returned."""
    changes: list[SourceChange] = []
    for f in store.disk_files():
        if f.size is None:
            continue  # never read (link loop, pipe, folder link): nothing of it to compare
        now = compare_with_scan(f, rehash_always=False)
        if now.missing:
            changes.append(
                SourceChange(
                    f.location_id, f.path, Code.SOURCE_MISSING, "source file no longer exists"
                )
            )
            continue
        if now.stat_error is not None or now.same_stat:
            continue  # unreadable now as before (recorded at inventory), or unchanged
        sha = now.sha256
        if f.sha256 and sha and sha != f.sha256:
            msg = f"content changed since it was inventoried (SHA-256 now {sha})"
        else:
            msg = (
                f"size/mtime changed since inventory (size {f.size} -> {now.size}, "
                f"mtime_ns {f.mtime_ns} -> {now.mtime_ns}); SHA-256 "
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
            return sha256_of_stream(fh)
    except Exception:  # noqa: BLE001 - a vanished or locked file is reported by the caller
        return None
