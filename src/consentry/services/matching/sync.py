"""The service's in-memory indexes, kept in step with the database.

What a lookup reads, all in memory (the database is never on a lookup's path):

- PDQ: a ``hashindex.PdqIndex`` keyed by ``signals.id``, plus the content id of each signal
  (an int32 array indexed by signal id; ids are dense, the table's autoincrement: 40 MB at
  10M). The matched hash (``matched_value``) comes from the index (``PdqIndex.hashes``); for
  an index without it a copy is kept here (32 bytes a hash).
- md5 / sha256: ``value -> {signal id: content id}`` dicts (exact banks are small).
- per content item: its bank id (an int32 array indexed by content id) and, only when it has
  any, its metadata (a dict): content without metadata costs 4 bytes.
- the banks (name, enabled, ratio): re-read from the small ``banks`` table at every sync.

Keeping in step: ``build()`` reads ``signals`` of enabled content in one snapshot together
with the newest ``signal_changes.seq`` (in packed id ranges: ``BankStore.scan_pdq_packed``,
so 10M rows cost a few hundred Python strings, not 50M objects); afterwards
``apply_pending()`` replays the changes past that seq (``add`` replaces, ``remove`` of an
absent id is ignored, so replaying a change the build already saw is harmless). The service
calls ``apply_pending()`` after each of its own writes (a process sees its writes at once)
and a daemon thread calls it every ``sync_interval_s`` (other processes' writes: visible
within that interval).

A corrupt row (not hex, wrong length, all-zero PDQ, unknown type) is skipped and counted, at
build and at replay, never a crash (HMA #1609).

Concurrency: a readers-writer lock. Lookups share it; a batch of changes is applied under the
writer side, so a search never sees half a change batch. ``build()`` drops the old index
before filling the new one, under the writer lock (never two full copies in memory, #1813):
lookups wait during a full rebuild, which happens at start-up and on an operator's request.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from consentry.hashindex import PdqIndex, SearchHits
from consentry.services.matching.types import IndexStatus, SignalType
from consentry.store.bank_store import BankStore, ChangeRec

_HEX = frozenset("0123456789abcdef")
_EXACT_LEN = {"md5": 32, "sha256": 64}
_ZERO = ("0" * 64, "f" * 64)
_log = logging.getLogger("consentry.service.sync")
CHANGE_BATCH = 50_000  # change rows applied under one writer lock


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BankFlags:
    id: int
    name: str
    enabled: bool
    ratio: float
    kind: str


class RWLock:
    """Many readers or one writer; a waiting writer stops new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def sample(content_ids: np.ndarray) -> np.ndarray:
    """A fixed number in [0, 1) per content id (splitmix64): the content matches while its
    bank's ``matching_enabled_ratio`` is above it. Deterministic, so the same content is in or
    out of the sample in every process and on every call; raising the ratio only adds
    content."""
    with np.errstate(over="ignore"):
        z = np.asarray(content_ids, np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


@dataclass(frozen=True)
class PdqHits:
    """PDQ hits of one batch, after the index: flat, sorted by query, distance, signal id."""

    query: np.ndarray
    signal_ids: np.ndarray
    distances: np.ndarray
    content_ids: np.ndarray
    bank_ids: np.ndarray
    matched: np.ndarray  # (n, 32) uint8: the stored hash of each hit


class Indexes:
    """The in-memory indexes of one process (module docstring)."""

    def __init__(self, store: BankStore) -> None:
        self.store = store
        self.lock = RWLock()
        self.pdq = PdqIndex()
        # the stored hash by signal id, only when the index cannot hand its own back
        # (``PdqIndex.search_rows``, beyond the contract): 320 MB saved at 10M hashes
        self._own_rows = not hasattr(self.pdq, "search_rows")
        self._rows = np.zeros((0, 32), np.uint8)
        self._content_of = np.zeros(0, np.int32)  # by signal id; 0: not indexed
        self._bank_of = np.zeros(0, np.int32)  # by content id
        self._meta: dict[int, tuple[tuple[str, str], ...]] = {}
        self._exact: dict[str, dict[str, dict[int, int]]] = {"md5": {}, "sha256": {}}
        self._exact_by_id: dict[int, tuple[str, str]] = {}
        self.banks: dict[int, BankFlags] = {}  # replaced whole at each sync (atomic swap)
        self.last_seq = 0
        self.built_at = ""
        self.updated_at = ""
        self.skipped: dict[str, int] = {"pdq": 0, "md5": 0, "sha256": 0, "other": 0}
        self._apply_lock = threading.Lock()  # one replay at a time (thread vs own writes)

    # -- sizes ---------------------------------------------------------------------------------
    def _grow_signals(self, max_id: int) -> None:
        if max_id < self._content_of.shape[0]:
            return
        cap = max(max_id + 1, int(self._content_of.shape[0] * 1.25) + 1024)
        if self._own_rows:
            rows = np.zeros((cap, 32), np.uint8)
            rows[: self._rows.shape[0]] = self._rows
            self._rows = rows
        content = np.zeros(cap, np.int32)
        content[: self._content_of.shape[0]] = self._content_of
        self._content_of = content

    def _grow_contents(self, max_id: int) -> None:
        if max_id < self._bank_of.shape[0]:
            return
        cap = max(max_id + 1, int(self._bank_of.shape[0] * 1.25) + 1024)
        bank = np.zeros(cap, np.int32)
        bank[: self._bank_of.shape[0]] = self._bank_of
        self._bank_of = bank

    # -- build ---------------------------------------------------------------------------------
    def build(self) -> None:
        """Full build from ``signals`` (module docstring); corrupt rows skipped, counted."""
        with self._apply_lock, self.lock.writing():
            # drop the old index first: never two full copies
            self.pdq = PdqIndex()
            self._rows = np.zeros((0, 32), np.uint8)
            self._content_of = np.zeros(0, np.int32)
            self._bank_of = np.zeros(0, np.int32)
            self._meta = {}
            self._exact = {"md5": {}, "sha256": {}}
            self._exact_by_id = {}
            skipped = {"pdq": 0, "md5": 0, "sha256": 0, "other": 0}
            with self.store.read(snapshot=True) as conn:
                seq = self.store.max_seq(conn)
                self.banks = self._bank_flags(conn)
                self._grow_signals(self.store.max_signal_id(conn))
                self._grow_contents(self.store.max_content_id(conn))
                scan = self._scan(conn, self._load_contents(conn), skipped)
                if hasattr(self.pdq, "build_from") and not self._own_rows:
                    # the index takes the chunks as they are read: nothing staged here
                    self.pdq.build_from(scan)
                else:
                    self._build_staged(conn, scan)
                for content_id, text in self.store.content_metadata(conn):
                    pairs = _pairs(text)
                    if pairs:
                        self._meta[content_id] = pairs
            self.skipped = skipped
            self.last_seq = seq
            self.built_at = self.updated_at = _now()
        self.apply_pending()

    def _build_staged(self, conn: Any, scan: Iterator[tuple[np.ndarray, np.ndarray]]) -> None:
        """The PDQ rows staged in one array (400 MB at 10M, freed after), handed to the index
        in one ``build``: what an index without ``build_from`` needs."""
        n_pdq = self.store.count_signals(conn, "pdq")
        ids = np.zeros(n_pdq, np.int64)
        rows = np.zeros((n_pdq, 32), np.uint8)
        n = 0
        for got_ids, got_rows in scan:
            k = min(got_ids.shape[0], n_pdq - n)
            ids[n : n + k], rows[n : n + k] = got_ids[:k], got_rows[:k]
            n += k
        if hasattr(self.pdq, "build"):
            self.pdq.build(ids[:n], rows[:n])
        elif n:
            self.pdq.add(ids[:n], rows[:n])
        if self._own_rows:
            self._rows[ids[:n]] = rows[:n]

    def _scan(
        self, conn: Any, enabled: np.ndarray, skipped: dict[str, int]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every signal of enabled content loaded (exact ones into their dicts); yields the
        PDQ ids and rows for ``build`` to stage."""
        for packed in self.store.scan_pdq_packed(conn, self.store.max_signal_id(conn)):
            got = self._load_packed(packed, enabled, skipped)
            if got is None:  # a malformed value in the range: row by row
                got = self._load_rows(
                    self.store.signals_in_range(conn, packed[0], packed[1], "pdq"),
                    enabled,
                    skipped,
                )
            yield got
        for chunk in self.store.scan_other_signals(conn):
            yield self._load_rows(chunk, enabled, skipped)

    def _load_contents(self, conn: Any) -> np.ndarray:
        """Every content item's bank into ``_bank_of``; the enabled flags by content id."""
        enabled = np.zeros(self._bank_of.shape[0], bool)
        for count, ids_t, banks_t, flags_t in self.store.scan_contents_packed(
            conn, self._bank_of.shape[0] - 1
        ):
            ids = np.fromstring(ids_t, dtype=np.int64, sep=",")
            banks = np.fromstring(banks_t, dtype=np.int64, sep=",")
            flags = np.fromstring(flags_t, dtype=np.int64, sep=",")
            if not ids.shape[0] == banks.shape[0] == flags.shape[0] == count:
                raise RuntimeError("the packed content scan returned misaligned columns")
            self._bank_of[ids] = banks
            enabled[ids] = flags != 0
        return enabled

    def _load_packed(
        self,
        packed: tuple[int, int, int, int, int, str, str, str],
        enabled: np.ndarray,
        skipped: dict[str, int],
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """One ``scan_pdq_packed`` range: the ids and rows of its signals of enabled content
        (all-zero and all-one hashes dropped, counted); None when a value in it is malformed
        (``build`` then reads the range row by row)."""
        _lo, _hi, count, shortest, longest, sids, cids, hexes = packed
        if shortest != 64 or longest != 64:
            return None
        try:
            raw = bytes.fromhex(hexes)  # (upper case reads as the same hash)
        except ValueError:
            return None
        if len(raw) != 32 * count:  # a space inside a value (fromhex skips it)
            return None
        ids = np.fromstring(sids, dtype=np.int64, sep=",")
        content = np.fromstring(cids, dtype=np.int64, sep=",")
        if not ids.shape[0] == content.shape[0] == count:
            raise RuntimeError("the packed signal scan returned misaligned columns")
        rows = np.frombuffer(raw, np.uint8).reshape(-1, 32)
        live = enabled[content]
        ok = rows.any(axis=1) & (rows != 255).any(axis=1)
        skipped["pdq"] += int((live & ~ok).sum())
        keep = live & ok
        ids = ids[keep]
        self._content_of[ids] = content[keep]
        return ids, rows[keep]

    def _load_rows(
        self, rows: list[tuple[Any, Any, Any, Any]], enabled: np.ndarray, skipped: dict[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows read one by one, (id, content id, type, value): those of enabled content."""
        chunk = [
            (sid, cid, int(self._bank_of[cid]), kind, value)
            for sid, cid, kind, value in rows
            if 0 <= cid < enabled.shape[0] and enabled[cid]
        ]
        if not chunk:
            return np.zeros(0, np.int64), np.zeros((0, 32), np.uint8)
        return self._load_chunk(chunk, skipped)

    def _load_chunk(
        self, chunk: list[tuple], skipped: dict[str, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Load one chunk of (signal id, content id, bank id, type, value); its valid PDQ
        signal ids and rows (for ``build`` to hand to the index in one call)."""
        sids_t, cids_t, banks_t, kinds_t, values_t = zip(*chunk, strict=True)
        sids = np.fromiter(sids_t, np.int64, len(chunk))
        cids = np.fromiter(cids_t, np.int64, len(chunk))
        self._bank_of[cids] = np.fromiter(banks_t, np.int64, len(chunk))
        is_pdq = np.fromiter((k == "pdq" for k in kinds_t), bool, len(chunk))
        pdq_at = np.flatnonzero(is_pdq)
        values = [values_t[i] for i in pdq_at]
        try:
            if any(len(v) != 64 for v in values):
                raise ValueError("length")
            raw = bytes.fromhex("".join(values))  # (upper case reads as the same hash)
            if len(raw) != 32 * len(values):  # a space inside a value (fromhex skips it)
                raise ValueError("spaces")
            rows = np.frombuffer(raw, np.uint8).reshape(-1, 32)
            ok = rows.any(axis=1) & (rows != 255).any(axis=1)
        except (ValueError, TypeError):
            ok = np.fromiter((_valid("pdq", v) for v in values), bool, len(values))
            rows = np.zeros((len(values), 32), np.uint8)
            good = np.flatnonzero(ok)
            if good.size:
                rows[good] = np.frombuffer(
                    bytes.fromhex("".join(values[i] for i in good)), np.uint8
                ).reshape(-1, 32)
        skipped["pdq"] += int((~ok).sum())
        pdq_ids = sids[pdq_at][ok]
        self._content_of[pdq_ids] = cids[pdq_at][ok]
        for i in np.flatnonzero(~is_pdq):
            kind, value = kinds_t[i], values_t[i]
            if kind in _EXACT_LEN and _valid(kind, value):
                self._add_exact(int(sids[i]), int(cids[i]), kind, value)
            else:
                skipped[kind if kind in _EXACT_LEN else "other"] += 1
        return pdq_ids, rows[ok]

    def _add_exact(self, sid: int, cid: int, kind: str, value: str) -> None:
        self._remove_exact(sid)
        self._exact[kind].setdefault(value, {})[sid] = cid
        self._exact_by_id[sid] = (kind, value)
        self._content_of[sid] = cid

    def _remove_exact(self, sid: int) -> None:
        old = self._exact_by_id.pop(sid, None)
        if old is not None:
            holders = self._exact[old[0]].get(old[1])
            if holders is not None:
                holders.pop(sid, None)
                if not holders:
                    del self._exact[old[0]][old[1]]

    def _bank_flags(self, conn: object) -> dict[int, BankFlags]:
        return {
            b.id: BankFlags(b.id, b.name, b.enabled, b.matching_enabled_ratio, b.kind)
            for b in self.store.banks(conn, counts=False)  # type: ignore[arg-type]
        }

    # -- replay --------------------------------------------------------------------------------
    def apply_pending(self) -> int:
        """Replay ``signal_changes`` past ``last_seq`` and re-read the banks; the number of
        change rows applied."""
        applied = 0
        with self._apply_lock:
            while True:
                with self.store.read() as conn:
                    changes = self.store.changes_since(conn, self.last_seq, CHANGE_BATCH)
                    banks = self._bank_flags(conn)
                self.banks = banks
                if not changes:
                    break
                if len(changes) == CHANGE_BATCH:
                    # a full batch may end inside one content item's rows (written together):
                    # leave those for the next batch, so no search sees half an item
                    last = changes[-1].content_id
                    tail = len(changes)
                    while tail and changes[tail - 1].content_id == last:
                        tail -= 1
                    if tail:  # (an item larger than a batch is applied as it comes)
                        changes = changes[:tail]
                with self.lock.writing():
                    self._apply(changes)
                    self.last_seq = changes[-1].seq
                    self.updated_at = _now()
                applied += len(changes)
        return applied

    def _apply(self, changes: list[ChangeRec]) -> None:
        self._grow_signals(max(c.signal_id for c in changes))
        self._grow_contents(max(c.content_id for c in changes))
        run_op = ""
        run_ids: list[int] = []
        run_hex: list[str] = []

        def flush() -> None:
            if not run_ids:
                return
            ids = np.asarray(run_ids, np.int64)
            if run_op == "add":
                rows = np.frombuffer(bytes.fromhex("".join(run_hex)), np.uint8).reshape(-1, 32)
                self.pdq.add(ids, rows)
                if self._own_rows:
                    self._rows[ids] = rows
            else:
                self.pdq.remove(ids)
                self._content_of[ids] = 0
            run_ids.clear()
            run_hex.clear()

        for c in changes:
            add = c.op == "add" and c.bank_id is not None  # content deleted since: skip
            if add:
                self._bank_of[c.content_id] = int(c.bank_id or 0)
                pairs = _pairs(c.metadata_json or "{}")
                if pairs:
                    self._meta[c.content_id] = pairs
                else:
                    self._meta.pop(c.content_id, None)
            if c.signal_type == "pdq":
                if add and not _valid("pdq", c.value):
                    self.skipped["pdq"] += 1
                    continue
                op = "add" if add else "remove"
                if op != run_op:
                    flush()
                    run_op = op
                run_ids.append(c.signal_id)
                if add:
                    run_hex.append(c.value)
                    self._content_of[c.signal_id] = c.content_id
            elif c.signal_type in _EXACT_LEN:
                if add:
                    if _valid(c.signal_type, c.value):
                        self._add_exact(c.signal_id, c.content_id, c.signal_type, c.value)
                    else:
                        self.skipped[c.signal_type] += 1
                elif c.op == "remove":
                    self._remove_exact(c.signal_id)
                    self._content_of[c.signal_id] = 0
            else:
                self.skipped["other"] += 1
        flush()

    # -- search --------------------------------------------------------------------------------
    def search_pdq(self, rows: np.ndarray, threshold: int) -> PdqHits:
        with self.lock.reading():
            if self._own_rows:
                hits: SearchHits = self.pdq.search(rows, threshold)
                matched = self._rows[np.asarray(hits.ids, np.int64)]
            else:  # the index hands each hit's stored hash back from where it found it
                hits, matched = self.pdq.search_rows(rows, threshold)
            sids = np.asarray(hits.ids, np.int64)
            content = self._content_of[sids].astype(np.int64)
            bank = self._bank_of[content]
        return PdqHits(
            np.asarray(hits.query, np.int64),
            sids,
            np.asarray(hits.distances, np.int32),
            content,
            bank.astype(np.int64),
            matched,
        )

    def search_exact(self, kind: str, value: str) -> list[tuple[int, int, int]]:
        """(signal id, content id, bank id) of the stored signals equal to ``value``."""
        with self.lock.reading():
            holders = self._exact.get(kind, {}).get(value)
            if not holders:
                return []
            return [(sid, cid, int(self._bank_of[cid])) for sid, cid in holders.items()]

    def metadata(self, content_id: int) -> tuple[tuple[str, str], ...]:
        return self._meta.get(content_id, ())

    # -- status --------------------------------------------------------------------------------
    def status(self) -> list[IndexStatus]:
        with self.lock.reading():
            pdq_bytes = self.pdq.memory_bytes() + self._rows.nbytes + self._content_of.nbytes
            sizes = {
                "pdq": len(self.pdq),
                "md5": sum(len(v) for v in self._exact["md5"].values()),
                "sha256": sum(len(v) for v in self._exact["sha256"].values()),
            }
        out = []
        for kind in (SignalType.PDQ, SignalType.MD5, SignalType.SHA256):
            out.append(
                IndexStatus(
                    signal_type=kind,
                    size=sizes[kind.value],
                    built_at=self.built_at,
                    updated_at=self.updated_at,
                    last_seq=self.last_seq,
                    memory_bytes=pdq_bytes if kind is SignalType.PDQ else 0,
                    skipped=self.skipped[kind.value],
                )
            )
        return out


class SyncThread:
    """Daemon thread: ``tick()`` every ``interval_s`` until ``stop()``; a failing tick (the
    database briefly away) is retried at the next interval, never kills the thread."""

    def __init__(self, interval_s: float, tick: Callable[[], None]) -> None:
        self.interval_s = interval_s
        self._tick = tick
        self._stop = threading.Event()
        self.errors = 0
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name="consentry-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - keep syncing; logged, counted
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {str(exc)[:200]}"
                _log.warning(
                    "index sync failed (retried in %.1f s): %s", self.interval_s, self.last_error
                )

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def _valid(kind: str, value: object) -> bool:
    if not isinstance(value, str):
        return False
    want = 64 if kind == "pdq" else _EXACT_LEN.get(kind, -1)
    if len(value) != want or not _HEX.issuperset(value):
        return False
    return not (kind == "pdq" and value in _ZERO)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(text)
    except ValueError:
        return ()
    if not isinstance(data, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in data.items()))


__all__ = ["BankFlags", "Indexes", "PdqHits", "RWLock", "SyncThread", "sample"]
