"""Hash-chained audit log: every action on a case, in order, tamper-evident.

Each event's hash covers its content and the previous event's hash, so editing an event breaks
its own hash, deleting one breaks the next event's link, and reordering puts links out of place.
Deleting the newest events leaves a valid shorter chain; to catch that, the newest hash is also
written to ``audit.head`` in the case folder, outside the database.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(ts: str, action: str, actor: str | None, payload: str, prev_hash: str) -> str:
    body = canonical_json(
        {"ts": ts, "action": action, "actor": actor, "payload": payload, "prev": prev_hash}
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def now_iso() -> str:
    """Local wall-clock time with its UTC offset: what the examiner's clock said, unambiguous."""
    return datetime.now(UTC).astimezone().isoformat(timespec="microseconds")


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    ts: str
    action: str
    actor: str | None
    payload: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditFinding:
    kind: str  # edited | deleted | reordered | truncated | head_missing
    seq: int | None
    message: str


def verify_chain(events: list[StoredEvent], head: tuple[int, str] | None) -> list[AuditFinding]:
    """Check a chain read in ``seq`` order; an empty list means it is intact."""
    findings: list[AuditFinding] = []
    by_hash = {e.hash: e for e in events}
    prev: StoredEvent | None = None
    for event in events:
        recomputed = event_hash(event.ts, event.action, event.actor, event.payload, event.prev_hash)
        if recomputed != event.hash:
            findings.append(
                AuditFinding(
                    "edited",
                    event.seq,
                    f"event {event.seq} ({event.action}) was edited: its content no longer "
                    "matches its hash",
                )
            )
        expected_prev = prev.hash if prev else GENESIS
        if event.prev_hash != expected_prev:
            if event.prev_hash in by_hash:
                before = by_hash[event.prev_hash]
                findings.append(
                    AuditFinding(
                        "reordered",
                        event.seq,
                        f"event {event.seq} ({event.action}) is out of order: it was written "
                        f"right after event {before.seq} ({before.action})",
                    )
                )
            else:
                after = f"after event {prev.seq}" if prev else "at the start of the log"
                findings.append(
                    AuditFinding(
                        "deleted",
                        event.seq,
                        f"event(s) deleted {after} and before event {event.seq} ({event.action})"
                        " (or the event before it was edited and re-hashed)",
                    )
                )
        prev = event
    if head is None:
        if events:
            findings.append(
                AuditFinding("head_missing", None, "audit.head is missing from the case folder")
            )
    else:
        head_seq, head_hash = head
        # The head is written just after each commit, so it may lag one event behind after a
        # crash; a head hash that is missing from the log means the newest events were removed.
        if head_hash not in by_hash:
            last_seq = events[-1].seq if events else 0
            findings.append(
                AuditFinding(
                    "truncated",
                    last_seq,
                    f"event(s) deleted after event {last_seq}: audit.head says the log reached "
                    f"event {head_seq}",
                )
            )
    return findings


def write_head(path: Path, seq: int, hash_: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{seq} {hash_}\n", encoding="ascii")
    tmp.replace(path)  # atomic: a crash leaves the old head or the new one, never half


def read_head(path: Path) -> tuple[int, str] | None:
    try:
        seq, hash_ = path.read_text(encoding="ascii").split()
        return int(seq), hash_
    except (OSError, ValueError):
        return None
