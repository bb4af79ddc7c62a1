"""Acquisition hashes re-verified when a report is written: the files on disk are re-read
read-only (``reader.open_readonly``) and compared with what the scan recorded. Nothing is ever
written to a source. Archive members are covered by their archive file's hash.

Modes (``ReportOptions.reverify``): ``sha256`` re-hashes every file (the only check that proves
the bytes); ``stat`` compares size and mtime and re-hashes only files where they changed;
``none`` skips the check, and the report says so.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from consentry.scan.verify_sources import sha256_of
from consentry.store.case_store import LOCATIONS


@dataclass
class SourceCheck:
    """One source's check: verdict True (all unchanged), False (changes), None (not checked)."""

    verdict: bool | None = None
    checked: int = 0
    changed: int = 0
    missing: int = 0
    details: list[str] = field(default_factory=list)


def source_manifests(engine: Engine) -> dict[int, str]:
    """Per source, the SHA-256 of its file list as the scan recorded it: ``sha256sum`` lines
    (``<sha256>  ./<path in the source>``) of every file read on disk, sorted by path. One
    value that identifies the acquisition; on an unchanged folder it equals
    ``cd SOURCE && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum``
    (regular files; a file consentry could not read has no hash and no line)."""
    L = LOCATIONS
    lines: dict[int, list[tuple[str, str]]] = {}
    with engine.connect() as conn:
        for sid, rel, sha in conn.execute(
            select(L.c.source_id, L.c.rel_path, L.c.sha256).where(
                L.c.member_chain == "[]", L.c.sha256.is_not(None)
            )
        ):
            lines.setdefault(sid, []).append((rel, sha))
    out = {}
    for sid, entries in lines.items():
        text = "".join(f"{sha}  ./{rel}\n" for rel, sha in sorted(entries, key=_path_bytes))
        out[sid] = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return out


def _path_bytes(entry: tuple[str, str]) -> bytes:
    return ("./" + entry[0]).encode("utf-8", "surrogateescape")


def reverify_sources(
    engine: Engine,
    sources: dict[int, dict[str, Any]],
    mode: str,
    scope_rows: Sequence[dict[str, Any]],
    scope: str | None,
) -> dict[int, SourceCheck]:
    """Re-read the files on disk (read-only) and compare with the scan: never writes."""
    out = {sid: SourceCheck() for sid in sources}
    if mode == "none":
        return out
    L = LOCATIONS
    with engine.connect() as conn:
        disk = conn.execute(
            select(
                L.c.id,
                L.c.parent_id,
                L.c.source_id,
                L.c.raw_path,
                L.c.path,
                L.c.size,
                L.c.mtime_ns,
                L.c.sha256,
            ).where(L.c.member_chain == "[]", L.c.size.is_not(None))
        ).all()
        parents = dict(conn.execute(select(L.c.id, L.c.parent_id)).all())
    wanted: set[int] | None = None
    if scope is not None:
        # only the files holding this person's items: the file itself or its outer archive
        wanted = set()
        for r in scope_rows:
            loc = r["id"]
            while parents.get(loc) is not None:
                loc = parents[loc]
            wanted.add(loc)
    for d in disk:
        if wanted is not None and d.id not in wanted:
            continue
        check = out.setdefault(d.source_id, SourceCheck())
        check.checked += 1
        raw = bytes(d.raw_path)
        try:
            st = os.stat(raw)
        except FileNotFoundError:
            check.missing += 1
            check.details.append(f"{d.path}: missing")
            continue
        except OSError as exc:
            check.missing += 1
            check.details.append(f"{d.path}: cannot be read ({exc.strerror})")
            continue
        same_stat = st.st_size == d.size and st.st_mtime_ns == d.mtime_ns
        if mode == "stat" and same_stat:
            continue
        if d.sha256 is None:
            if not same_stat:
                check.changed += 1
                check.details.append(f"{d.path}: size/mtime changed (no SHA-256 recorded)")
            continue
        now = sha256_of(raw)
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
