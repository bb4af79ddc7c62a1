"""Hash-chained audit log: every action on a case, in order, tamper-evident.

Each event's hash covers its content and the previous event's hash, so editing an event breaks
its own hash, deleting one breaks the next event's link, and reordering puts links out of place.
Deleting the newest events leaves a valid shorter chain; to catch that, the newest hash is also
written to ``audit.head`` in the case folder, outside the database, and the head must name the
last event (same sequence number, same hash).

What the chain cannot prove: everything it checks is inside the case folder, so whoever can
write that folder can rebuild the whole chain with fresh hashes and a matching ``audit.head``,
and it verifies. Only a hash recorded *outside* the case catches that: ``consentry audit
anchor`` prints the newest event as ``SEQ:HASH`` to keep elsewhere (the report, an e-mail, a
second system), and ``audit verify --anchor SEQ:HASH`` checks that this event is still in the
chain with that hash; every event up to it is then as it was when the anchor was taken.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
FIRST_ACTION = "case_created"  # every case's log starts with it (case.open_case)

# What ``audit verify`` and the report say about the chain: the same words everywhere.
PROVES = (
    "no event was edited, removed or reordered relative to the others, and none was added "
    "or removed after audit.head was written"
)
CANNOT_PROVE = (
    "that the whole log was not rewritten: anyone with write access to the case folder can "
    "re-hash every event and audit.head; only an anchor kept outside the case "
    "(`consentry audit anchor`, checked with `audit verify --anchor SEQ:HASH`) shows that "
    "the events up to it are unchanged"
)


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
    # edited | deleted | reordered | truncated | head_missing | head_mismatch | appended |
    # empty | not_a_case_start | anchor_missing | anchor_mismatch
    kind: str
    seq: int | None
    message: str


@dataclass(frozen=True)
class Anchor:
    """One event's sequence number and hash, recorded outside the case."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def parse_anchor(text: str) -> Anchor:
    """``SEQ:HASH`` as ``consentry audit anchor`` prints it; ValueError with the reason."""
    seq, sep, hash_ = text.strip().partition(":")
    hash_ = hash_.lower()
    if (
        not sep
        or not seq.isdigit()
        or int(seq) < 1
        or len(hash_) != 64
        or any(c not in "0123456789abcdef" for c in hash_)
    ):
        raise ValueError(
            f"anchor {text!r} is not SEQ:HASH (an event number and its 64-hex SHA-256, as "
            "`consentry audit anchor` prints it)"
        )
    return Anchor(int(seq), hash_)


def anchor_of(events: list[StoredEvent]) -> Anchor | None:
    """The newest event as an anchor (None for an empty log)."""
    return Anchor(events[-1].seq, events[-1].hash) if events else None


def report_statement(events: list[StoredEvent], intact: bool) -> str:
    """What a report says about its case's audit log, with the anchor to keep outside it."""
    text = f"Audit log: the hash chain shows that {PROVES}; it cannot show {CANNOT_PROVE}."
    anchor = anchor_of(events)
    if intact and anchor is not None:
        text += (
            f" Anchor of the log as this report was written: {anchor} (kept with this report, "
            "outside the case: `consentry audit verify --anchor` with it shows whether the "
            "events up to it were changed since)."
        )
    return text


def check_anchors(events: list[StoredEvent], anchors: Iterable[Anchor]) -> list[AuditFinding]:
    """Each anchor's event must still be in the log, with the anchor's hash."""
    by_seq = {e.seq: e for e in events}
    findings = []
    for anchor in anchors:
        event = by_seq.get(anchor.seq)
        if event is None:
            findings.append(
                AuditFinding(
                    "anchor_missing",
                    anchor.seq,
                    f"anchored event {anchor.seq} is no longer in the log (the log has "
                    f"{len(events)} events): events were deleted or the log was replaced",
                )
            )
        elif event.hash != anchor.hash:
            findings.append(
                AuditFinding(
                    "anchor_mismatch",
                    anchor.seq,
                    f"event {anchor.seq} ({event.action}) has hash {event.hash[:16]}..., not the "
                    f"anchored {anchor.hash[:16]}...: the log was rewritten since the anchor "
                    "was taken",
                )
            )
    return findings


def verify_chain(
    events: list[StoredEvent],
    head: tuple[int, str] | None,
    anchors: Iterable[Anchor] = (),
    case_id: str | None = None,
) -> list[AuditFinding]:
    """Check a chain read in ``seq`` order against ``audit.head`` and optional anchors kept
    outside the case; an empty list means it is intact. A case's log is never empty (it
    starts with ``case_created``), so an empty log is a finding. With ``case_id`` (from
    case.json), the first event must be that case's ``case_created``."""
    findings: list[AuditFinding] = []
    if not events:
        findings.append(
            AuditFinding(
                "empty",
                None,
                "the audit log is empty: a case's log always starts with its case_created "
                "event, so every event was deleted",
            )
        )
    elif (
        case_id is not None
        and events[0].prev_hash == GENESIS  # (a deleted start is named by the link check)
        and not _starts_case(events[0], case_id)
    ):
        findings.append(
            AuditFinding(
                "not_a_case_start",
                events[0].seq,
                f"the log does not start with this case's case_created event (event "
                f"{events[0].seq} is {events[0].action}): its first events were replaced",
            )
        )
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
    elif events:
        findings += _check_head(events, by_hash, head)
    findings += check_anchors(events, anchors)
    return findings


def _check_head(
    events: list[StoredEvent], by_hash: dict[str, StoredEvent], head: tuple[int, str]
) -> list[AuditFinding]:
    """audit.head must name the last event: same hash, same sequence number."""
    head_seq, head_hash = head
    last = events[-1]
    named = by_hash.get(head_hash)
    if named is None:
        return [
            AuditFinding(
                "truncated",
                last.seq,
                f"event(s) deleted after event {last.seq}: audit.head says the log reached "
                f"event {head_seq}",
            )
        ]
    if named.seq != head_seq:
        return [
            AuditFinding(
                "head_mismatch",
                named.seq,
                f"audit.head names event {head_seq} with the hash of event {named.seq}: "
                "audit.head or the event numbers were changed",
            )
        ]
    if named.seq != last.seq:
        # The head is written just after each commit: a command killed in between also leaves
        # it one event behind, and an event added by hand leaves it behind too. Both need a
        # look; the event's content says which.
        return [
            AuditFinding(
                "appended",
                named.seq + 1,
                f"{last.seq - named.seq} event(s) after event {named.seq} are not covered by "
                f"audit.head (it names event {named.seq}, the log ends at {last.seq}): added "
                "outside consentry, or a command was killed between recording an event and "
                "writing audit.head",
            )
        ]
    return []


def _starts_case(event: StoredEvent, case_id: str) -> bool:
    if event.action != FIRST_ACTION:
        return False
    try:
        payload = json.loads(event.payload)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("case_id") == case_id


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
