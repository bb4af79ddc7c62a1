"""Acquisition hashes re-verified when a report is written: the files on disk are re-read
read-only and compared with what the scan recorded, by the scan's own source verifier
(``scan.verify_sources.compare_with_scan``); this module says what the report makes of it.
Nothing is ever written to a source. Archive members are covered by their archive file's hash.

Modes (``ReportOptions.reverify``): ``sha256`` re-hashes every file (the only check that proves
the bytes); ``stat`` compares size and mtime and re-hashes only files where they changed;
``none`` skips the check, and the report says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from consentry.scan.verify_sources import compare_with_scan
from consentry.store.case_store import DiskFile


@dataclass
class SourceCheck:
    """One source's check: verdict True (all unchanged), False (changes), None (not checked)."""

    verdict: bool | None = None
    checked: int = 0
    changed: int = 0
    missing: int = 0
    details: list[str] = field(default_factory=list)


def source_manifests(disk: Iterable[DiskFile]) -> dict[int, str]:
    """Per source, the SHA-256 of its file list as the scan recorded it: ``sha256sum`` lines
    (``<sha256>  ./<path in the source>``) of every file read on disk, sorted by path. One
    value that identifies the acquisition; on an unchanged folder it equals
    ``cd SOURCE && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum``
    (regular files; a file consentry could not read has no hash and no line)."""
    lines: dict[int, list[tuple[str, str]]] = {}
    for f in disk:
        if f.sha256 is not None:
            lines.setdefault(f.source_id, []).append((f.rel_path, f.sha256))
    out = {}
    for sid, entries in lines.items():
        text = "".join(f"{sha}  ./{rel}\n" for rel, sha in sorted(entries, key=_path_bytes))
        out[sid] = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return out


def _path_bytes(entry: tuple[str, str]) -> bytes:
    return ("./" + entry[0]).encode("utf-8", "surrogateescape")


def reverify_sources(
    disk: Sequence[DiskFile],
    source_ids: Iterable[int],
    mode: str,
    only: Collection[int] | None = None,
) -> dict[int, SourceCheck]:
    """Re-read the files on disk (read-only) and compare with the scan: never writes.
    ``only``: the location ids of the files to check (a person-scoped report's), else all."""
    out = {sid: SourceCheck() for sid in source_ids}
    if mode == "none":
        return out
    for d in disk:
        if d.size is None or (only is not None and d.location_id not in only):
            continue  # never read (link loop, pipe, folder link): nothing of it to compare
        check = out.setdefault(d.source_id, SourceCheck())
        check.checked += 1
        file_now = compare_with_scan(d, rehash_always=mode == "sha256")
        if file_now.missing:
            check.missing += 1
            check.details.append(f"{d.path}: missing")
            continue
        if file_now.stat_error is not None:
            check.missing += 1
            check.details.append(f"{d.path}: cannot be read ({file_now.stat_error.strerror})")
            continue
        same_stat = file_now.same_stat
        if mode == "stat" and same_stat:
            continue
        if d.sha256 is None:
            if not same_stat:
                check.changed += 1
                check.details.append(f"{d.path}: size/mtime changed (no SHA-256 recorded)")
            continue
        now = file_now.sha256
        if now != d.sha256:
            check.changed += 1
            check.details.append(
                f"{d.path}: SHA-256 now {now or 'unreadable'}, scan recorded {d.sha256}"
            )
        elif not same_stat:
            check.details.append(f"{d.path}: size/mtime changed, SHA-256 unchanged")
    for check in out.values():
        if check.checked:
            check.verdict = check.changed == 0 and check.missing == 0
    return out


__all__ = ["SourceCheck", "reverify_sources", "source_manifests"]
