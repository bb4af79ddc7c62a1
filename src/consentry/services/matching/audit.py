"""The service's audit log: hash-chained like a case's (``store/audit.py``: each event's hash
covers its content and the previous event's hash), one event per insert, import, export,
withdrawal and key change, written in the same transaction as the change it records.

Lookups are the exception, for throughput: a platform sends thousands a second, and a chained
row per call would serialise every worker on the database. Each process counts its lookups per
caller in memory (``LookupBuffer``) and writes one ``lookups`` event per caller per flush: at
every sync tick (``sync_interval_s``, 2 s by default), whenever a caller's buffer reaches
``FLUSH_CALLS`` calls, before the log is read, and at ``close()``. The event holds the number of
calls, of queries, of queries that matched and of matches, and the banks that matched with
their counts — never a hash value. A process killed between flushes loses at most one
interval's counts (the lookups themselves stored nothing).

What ``verify`` proves: no event was edited, removed from the middle or reordered. What it
cannot: that the newest events were not cut off, or that the whole chain was not rewritten by
someone with write access to the database; keep ``head`` (``SEQ:HASH``, in its message)
somewhere else to check that later.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from consentry.services.matching.types import AuditEntry
from consentry.store.audit import GENESIS, event_hash
from consentry.store.bank_store import AuditRec

FLUSH_CALLS = 1000


@dataclass
class _Pending:
    calls: int = 0
    queries: int = 0
    matched_queries: int = 0
    matches: int = 0
    banks: Counter[str] = field(default_factory=Counter)
    first_at: float = 0.0


class LookupBuffer:
    """Per-process lookup counts per actor, waiting to be written as ``lookups`` events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def add(
        self, actor: str, queries: int, matched_queries: int, matches: int, banks: Counter[str]
    ) -> bool:
        """Count one lookup call; True when this actor's buffer is due for a flush."""
        with self._lock:
            p = self._pending.get(actor)
            if p is None:
                p = self._pending[actor] = _Pending(first_at=time.time())
            p.calls += 1
            p.queries += queries
            p.matched_queries += matched_queries
            p.matches += matches
            p.banks.update(banks)
            return p.calls >= FLUSH_CALLS

    def drain(self) -> list[tuple[str, dict[str, object]]]:
        """The waiting events (actor, payload), emptying the buffer."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [
            (
                actor,
                {
                    "calls": p.calls,
                    "queries": p.queries,
                    "matched_queries": p.matched_queries,
                    "matches": p.matches,
                    "banks": dict(sorted(p.banks.items())),
                    "since": round(p.first_at, 3),
                },
            )
            for actor, p in sorted(pending.items())
        ]

    def restore(self, events: list[tuple[str, dict[str, object]]]) -> None:
        """Put drained events back (the write failed: try again at the next flush)."""
        with self._lock:
            for actor, payload in events:
                p = self._pending.setdefault(actor, _Pending(first_at=time.time()))
                p.calls += int(payload["calls"])  # type: ignore[call-overload]
                p.queries += int(payload["queries"])  # type: ignore[call-overload]
                p.matched_queries += int(payload["matched_queries"])  # type: ignore[call-overload]
                p.matches += int(payload["matches"])  # type: ignore[call-overload]
                p.banks.update(payload["banks"])  # type: ignore[call-overload]


def entry(rec: AuditRec) -> AuditEntry:
    try:
        payload = json.loads(rec.payload_json)
    except ValueError:
        payload = {"unreadable": rec.payload_json[:200]}
    if not isinstance(payload, dict):
        payload = {"value": payload}
    return AuditEntry(rec.seq, rec.at, rec.actor, rec.action, payload, rec.hash)


def verify(events: Iterable[AuditRec]) -> tuple[bool, str]:
    """(intact, one line): every event's hash matches its content and links to the one before
    it. The line names the first broken event, or the head to keep elsewhere."""
    prev_hash = GENESIS
    n = 0
    last: AuditRec | None = None
    for rec in events:
        n += 1
        if event_hash(rec.at, rec.action, rec.actor, rec.payload_json, rec.prev_hash) != rec.hash:
            return False, f"event {rec.seq} ({rec.action}) was edited: its hash does not match"
        if rec.prev_hash != prev_hash:
            where = f"after event {last.seq}" if last else "at the start of the log"
            return (
                False,
                f"the chain is broken {where}, before event {rec.seq} ({rec.action}): events "
                "were deleted, reordered, or one was edited and re-hashed",
            )
        prev_hash = rec.hash
        last = rec
    if last is None:
        return True, "the service audit log is empty"
    return (
        True,
        f"{n} events, chain intact; head {last.seq}:{last.hash} (keep it elsewhere: it shows "
        "later whether the events up to it were changed or cut off)",
    )


__all__ = ["FLUSH_CALLS", "LookupBuffer", "entry", "verify"]
