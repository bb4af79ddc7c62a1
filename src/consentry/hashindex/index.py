"""The PDQ index: exact multi-index hashing (Norouzi, Punjani & Fleet, "Fast exact search in
Hamming space with multi-index hashing", 2014) with in-place updates.

Why this shape. A PDQ match is "within 31 of 256 bits". Split the hash into ``m`` substrings;
by the pigeonhole principle, with ``31 = m*k + a``, a hash within 31 bits has one of ``a + 1``
chosen substrings within ``k`` bits or one of the others within ``k - 1`` bits. Each substring
has a table (CSR: ``offsets[2^b + 1]`` uint32 and the row numbers sorted by substring value,
so a probe is two array reads); a query probes every value within the table's radius of its
own substring and verifies the candidates by popcount on the stored 32-byte rows. No
candidate within the threshold is ever missed, so the answers are exact (recall 1.0). ``m``
and the widths follow the index size (``plan_layout``): at 10M hashes 11 substrings of 23-24
bits (~2,800 probes and ~3,000 candidates a query), at 100k 16 of 16 bits.

Storage (none of it ever held twice):

- rows in chunks of 65,536 (``CHUNK``) hashes, with their int64 ids and an alive byte each, in
  anonymous memory maps (returned to the OS when freed, so repeated rebuilds do not grow the
  heap, python-threatexchange #1813); the store grows by a chunk, never by a copy;
- the tables, over rows ``0 .. n_main``; rows past ``n_main`` are the *delta*, compared one
  by one at search (at most ``delta_max`` rows, 16,384 by default). The C path stores a table
  in *slot* form (``slots[2^b]``: empty, the row of a one-row bucket inline, or a pointer to
  the bucket's rows in an overflow array, which has room to spare), which saves a random read
  on ~35% of the probes (~30% more lookups/s at 10M than CSR); the numpy path keeps CSR;
- the id map: ids of rows ``< n_main`` sorted, with their row numbers (plus a second, small
  sorted map for what merges added since it was last folded in); a dict for the delta.

Updates: ``add`` appends rows to the delta (an id already present is tombstoned first: ``add``
replaces), ``remove`` tombstones. When the delta passes ``delta_max`` it is merged into the
slot tables in place: the tombstoned rows taken out of their buckets, the delta's rows put
in, a bucket that grows moved to the end of its overflow array; O(delta), milliseconds at
10M, under the caller's writer lock. A table whose overflow room is used up is rebuilt
through CSR (a new table next to the old one, then the old freed: the peak is one table,
~8% of the index at 10M). Tombstoned rows leave the store when they pass a quarter of it
(compaction rebuilds the tables one at a time). ``build``, and a delta of more than a quarter
of the index (an ``add`` of many rows), rebuild the tables from the rows instead (a
cache-friendly radix sort; the old tables are freed first).

API (docs/service-contract.md): ``add(ids, rows)``, ``remove(ids)``, ``search(queries,
threshold=31) -> SearchHits``, ``len()``, ``memory_bytes()``; and, beyond the contract,
``build(ids, rows)`` and ``build_from(batches)`` (replace everything: the old index is freed
before the new one is filled; ``build_from`` takes the hashes in batches, so the caller never
holds them all twice),
``hashes(ids)`` (the stored rows of ids, so a caller need not keep its own copy),
``search_rows`` (``search`` plus each hit's stored hash), ``stats()``
and ``compiled`` (whether the C inner loops run; without them a numpy path gives the same
answers, slower). Threads: any number of ``search`` calls at once (the C search releases the
GIL), or one writer; the caller holds a readers-writer lock.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import mmap
import os
import sys
import threading
import weakref
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from consentry.hashindex import HASH_BYTES, MAX_THRESHOLD, SearchHits

try:  # the compiled inner loops (setup.py); the numpy path below gives the same answers
    from consentry.hashindex import _mih
except ImportError:  # pragma: no cover - exercised by the tests' use_c=False runs instead
    _mih = None  # type: ignore[assignment]

CHUNK_BITS = 16
CHUNK = 1 << CHUNK_BITS
_MASK = CHUNK - 1
_DEAD = np.uint32(0xFFFFFFFF)
_MAX_WIDTH = 24  # widest substring: 64 MiB of offsets
_MMAP_MIN = 256 << 10
_HUGE = 2 << 20  # arrays at least this big get their own anonymous map

if _mih is not None:
    assert _mih.CHUNK_BITS == CHUNK_BITS, "stale _mih extension: rebuild with pip install -e ."


@dataclass(frozen=True)
class IndexStats:
    """What the index holds (for ``/m/index/status`` and the benchmark)."""

    hashes: int  # live ids
    rows: int  # stored rows, tombstoned included
    indexed_rows: int  # rows the tables cover
    delta_rows: int  # rows compared one by one
    dead_rows: int  # tombstoned rows still stored
    substring_bits: tuple[int, ...]  # the tables' widths
    memory_bytes: int
    compiled: bool


def _alloc(shape: tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """Zeroed array; large ones in their own anonymous map (freed to the OS when dropped, so
    rebuilds do not grow the heap), 2 MiB-aligned and advised for huge pages (a random probe
    then rarely misses the TLB)."""
    dt = np.dtype(dtype)
    count = int(np.prod(shape))
    nbytes = count * dt.itemsize
    if nbytes < _MMAP_MIN:
        return np.zeros(shape, dt)
    buf: object = None
    if nbytes >= _HUGE:
        buf = _huge_map(-(-nbytes // _HUGE) * _HUGE)
    if buf is None:
        m = mmap.mmap(-1, nbytes)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            with contextlib.suppress(OSError):  # kernels without transparent huge pages
                m.madvise(mmap.MADV_HUGEPAGE)
        buf = m
    return np.frombuffer(buf, dt, count=count).reshape(shape)  # type: ignore[call-overload]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int]
    libc.mmap.argtypes += [ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


_LIBC = _libc()


def _huge_map(size: int) -> object | None:
    """``size`` bytes (a multiple of 2 MiB) of zeroed anonymous memory at a 2 MiB boundary,
    unmapped when the returned buffer is collected; None where that is not available."""
    if _LIBC is None:
        return None
    prot, flags = mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    raw = _LIBC.mmap(None, size + _HUGE, prot, flags, -1, 0)
    if raw in (None, ctypes.c_void_p(-1).value):
        return None
    start = (raw + _HUGE - 1) & ~(_HUGE - 1)
    if start > raw:
        _LIBC.munmap(raw, start - raw)
    if raw + _HUGE > start:
        _LIBC.munmap(start + size, raw + _HUGE - start)
    _LIBC.madvise(start, size, 14)  # MADV_HUGEPAGE (advice only: ignored where unsupported)
    buf = (ctypes.c_char * size).from_address(start)
    # unmapped when collected, never at interpreter exit (a daemon thread may still read it)
    weakref.finalize(buf, _LIBC.munmap, start, size).atexit = False
    return buf


def _probe_count(bits: int, radius: int) -> int:
    return sum(math.comb(bits, i) for i in range(radius + 1)) if radius >= 0 else 0


def _widths(m: int) -> tuple[int, ...]:
    base, extra = divmod(HASH_BYTES * 8, m)
    return tuple([base + 1] * extra + [base] * (m - extra))


def _cost(widths: tuple[int, ...], n: int, threshold: int) -> float:
    radii = _radii(widths, n, threshold)
    return sum(_probe_count(b, r) * (1.0 + n / 2.0**b) for b, r in zip(widths, radii, strict=True))


def _env_threads() -> int:
    raw = os.environ.get("CONSENTRY_INDEX_THREADS", "")
    if raw.strip().isdigit() and int(raw) >= 1:
        return min(int(raw), 64)
    return max(1, min(os.cpu_count() or 1, 8))


SEARCH_THREADS = _env_threads()  # CONSENTRY_INDEX_THREADS, else the CPUs (at most 8)
PARALLEL_MIN_QUERIES = 64  # a smaller batch costs less than handing it to other threads


def _split(n: int, threads: int) -> list[tuple[int, int]]:
    """Contiguous query ranges, one per thread, none smaller than PARALLEL_MIN_QUERIES / 2."""
    parts = max(1, min(threads, n // max(1, PARALLEL_MIN_QUERIES // 2)))
    if n < PARALLEL_MIN_QUERIES:
        parts = 1
    edges = [n * i // parts for i in range(parts + 1)]
    return [(edges[i], edges[i + 1]) for i in range(parts)]


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(threads, "pdq-search")
        return pool


def _radii(widths: tuple[int, ...], n: int, threshold: int) -> tuple[int, ...]:
    """Per-table probe radius for ``threshold``: ``threshold = m*k + a``; ``a + 1`` tables at
    ``k`` (the ones where the larger radius costs least), the rest at ``k - 1`` (-1: skip)."""
    m = len(widths)
    k, a = divmod(threshold, m)

    def extra(b: int) -> float:
        per_probe = 1.0 + n / 2.0**b
        return (_probe_count(b, k) - _probe_count(b, k - 1)) * per_probe

    order = sorted(range(m), key=lambda i: (extra(widths[i]), i))
    radii = [k - 1] * m
    for i in order[: a + 1]:
        radii[i] = k
    return tuple(radii)


def plan_layout(n: int) -> tuple[int, ...]:
    """Substring widths for an index of ``n`` hashes: the fewest expected probes + candidates
    at threshold 31, with the offsets arrays kept within ~48 bytes a hash (the size of the
    tables' row numbers at 11 substrings) and no substring wider than 24 bits."""
    n = max(n, 1)
    budget = max(48 * n, 1 << 20)
    best: tuple[float, tuple[int, ...]] | None = None
    for m in range(8, 33):
        w = _widths(m)
        if w[0] > _MAX_WIDTH or sum(4 << b for b in w) > budget:
            continue
        c = _cost(w, n, MAX_THRESHOLD)
        if best is None or c < best[0]:
            best = (c, w)
    assert best is not None  # m = 32 (8-bit substrings) always fits the budget
    return best[1]


def _substrings(words: np.ndarray, start: int, bits: int) -> np.ndarray:
    """Substring ``[start, start + bits)`` of hashes viewed as ``(n, 4)`` little-endian uint64
    words (the numbering the C extension uses)."""
    i, o = divmod(start, 64)
    v = words[:, i] >> np.uint64(o)
    if o + bits > 64:
        v = v | (words[:, i + 1] << np.uint64(64 - o))
    return (v & np.uint64((1 << bits) - 1)).astype(np.uint32)


def _flips(bits: int, radius: int) -> np.ndarray:
    """Every XOR mask of at most ``radius`` set bits in ``bits`` bits (0 first)."""
    out = [0]
    if radius >= 1:
        out += [1 << i for i in range(bits)]
    if radius >= 2:
        out += [(1 << i) | (1 << j) for i in range(bits) for j in range(i)]
    if radius >= 3:
        out += [
            (1 << i) | (1 << j) | (1 << k) for i in range(bits) for j in range(i) for k in range(j)
        ]
    return np.asarray(out, np.uint32)


def _words(rows: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rows, np.uint8).view("<u8").reshape(-1, 4)


@dataclass
class _Table:
    """One substring's table. numpy path: CSR (``offsets`` 2^bits + 1, ``ids`` the row
    numbers). C path: the slot form (``offsets`` = slots, 2^bits; ``ids`` = overflow; see
    _mih.c), which saves a random read a probe."""

    offsets: np.ndarray  # uint32
    ids: np.ndarray  # uint32
    start: int
    bits: int
    n: int  # entries (row numbers) it holds (an upper bound after in-place merges)
    slotted: bool
    used: int = 0  # overflow entries in use (slot form; the rest is room for merges)


class PdqIndex:
    """Exact Hamming-radius search over PDQ hashes, updated in place (see the module doc)."""

    _ovf_room = 1 << 16  # least spare overflow entries a slot table gets (tests lower it)
    _fold_min = 1 << 16  # the second id map is folded into the first past this (and 1/16)

    def __init__(
        self, *, delta_max: int = 16384, use_c: bool | None = None, substrings: int | None = None
    ) -> None:
        """``delta_max``: rows compared one by one before a merge; ``use_c``: None = the C
        loops when built; ``substrings``: fix the number of tables (8..32) instead of
        ``plan_layout``'s choice by size (for experiments)."""
        if substrings is not None and not 8 <= substrings <= 32:
            raise ValueError(f"index_layout: substrings must be 8..32, not {substrings}")
        self._substrings = substrings
        if use_c and _mih is None:
            raise RuntimeError("index_no_extension: the C extension _mih is not built")
        self._c = _mih is not None if use_c is None else use_c
        self._delta_max = max(1, delta_max)
        # threads one search batch is split over (C path); 1 keeps a batch on its caller's
        # thread (a server with a worker per core may prefer that)
        self.search_threads = SEARCH_THREADS
        self._clear()

    # ------------------------------------------------------------------ state

    def _clear(self) -> None:
        self._rows: list[np.ndarray] = []  # (CHUNK, 32) uint8
        self._rids: list[np.ndarray] = []  # (CHUNK,) int64
        self._alive: list[np.ndarray] = []  # (CHUNK,) uint8
        self._n_rows = 0
        self._n_main = 0
        self._n_alive = 0
        self._tables_dead = 0  # tombstoned rows still inside the tables
        self._dead_rows: list[np.ndarray] = []  # which (for in-place merges)
        self._tables: list[_Table] = []
        self._layout_n = 0
        self._sid = np.zeros(0, np.int64)  # ids of rows < n_main, sorted
        self._srow = np.zeros(0, np.uint32)  # their rows (_DEAD once removed)
        # merges since the last fold go into a second, small sorted map (inserting into 10M
        # sorted ids at every merge cost 0.2 s); folded into the first past 1/16 of its size
        self._sid2 = np.zeros(0, np.int64)
        self._srow2 = np.zeros(0, np.uint32)
        self._delta: dict[int, int] = {}  # id -> row, rows >= n_main

    @property
    def compiled(self) -> bool:
        return self._c

    def __len__(self) -> int:
        return self._n_alive

    def memory_bytes(self) -> int:
        """Bytes held by the index's arrays (for /m/index/status and the benchmark)."""
        n = sum(a.nbytes for a in self._rows) + sum(a.nbytes for a in self._rids)
        n += sum(a.nbytes for a in self._alive)
        n += sum(t.offsets.nbytes + t.ids.nbytes for t in self._tables)
        n += self._sid.nbytes + self._srow.nbytes + 100 * len(self._delta)
        n += self._sid2.nbytes + self._srow2.nbytes
        return int(n)

    def stats(self) -> IndexStats:
        return IndexStats(
            hashes=self._n_alive,
            rows=self._n_rows,
            indexed_rows=self._n_main,
            delta_rows=self._n_rows - self._n_main,
            dead_rows=self._n_rows - self._n_alive,
            substring_bits=tuple(t.bits for t in self._tables),
            memory_bytes=self.memory_bytes(),
            compiled=self._c,
        )

    # ------------------------------------------------------------------ updates

    def build(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Replace the whole index with ``ids``/``rows`` (the old one is freed first)."""
        self.build_from([(ids, rows)])

    def build_from(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace the whole index with the concatenation of ``(ids, rows)`` batches (an id
        seen twice: the later hash wins). The old index is freed first and the batches are
        copied in as they come, so a caller streaming them from a database never holds all
        the input at once; the tables are built once, at the end."""
        self._clear()
        for ids, rows in batches:
            ids, rows = _check(ids, rows)
            if ids.shape[0]:
                self._append(*_last_wins(ids, rows))
        self._merge(force_full=True)

    def add(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Add or replace (an id already present gets the new hash)."""
        ids, rows = _check(ids, rows)
        if not ids.shape[0]:
            return
        ids, rows = _last_wins(ids, rows)
        self._kill(ids)
        first = self._n_rows
        self._append(ids, rows)
        if self._n_rows - self._n_main > self._delta_max:
            self._merge(force_full=False)
        else:
            self._delta.update(zip(ids.tolist(), range(first, self._n_rows), strict=True))
        self._maybe_compact()

    def remove(self, ids: np.ndarray) -> None:
        """Remove ids (unknown ids are ignored)."""
        self._kill(np.unique(np.asarray(ids, np.int64).reshape(-1)))
        self._maybe_compact()

    def hashes(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(found, rows)``: for each id, whether it is present, and its stored hash (zeros
        where absent)."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        rownum = self._lookup(ids)
        found = rownum != _DEAD
        out = np.zeros((ids.shape[0], HASH_BYTES), np.uint8)
        if found.any():
            out[found] = self._gather(self._rows, rownum[found])
        return found, out

    def _lookup(self, ids: np.ndarray) -> np.ndarray:
        """Row of each id (``_DEAD`` where absent)."""
        out = np.full(ids.shape[0], _DEAD, np.uint32)
        for sid, srow in ((self._sid, self._srow), (self._sid2, self._srow2)):
            if sid.shape[0]:
                pos = np.minimum(np.searchsorted(sid, ids), sid.shape[0] - 1)
                hit = (sid[pos] == ids) & (srow[pos] != _DEAD)
                out[hit] = srow[pos[hit]]
        if self._delta:
            if ids.shape[0] <= 4 * len(self._delta):
                for i, x in enumerate(ids.tolist()):
                    r = self._delta.get(x)
                    if r is not None:
                        out[i] = r
            else:
                keys = np.fromiter(self._delta.keys(), np.int64, len(self._delta))
                vals = np.fromiter(self._delta.values(), np.uint32, len(self._delta))
                order = np.argsort(keys)
                keys, vals = keys[order], vals[order]
                pos = np.minimum(np.searchsorted(keys, ids), keys.shape[0] - 1)
                hit = keys[pos] == ids
                out[hit] = vals[pos[hit]]
        return out

    def _kill(self, ids: np.ndarray) -> None:
        """Tombstone the rows of ``ids`` (unique) where present."""
        if not self._n_alive or not ids.shape[0]:
            return
        for sid, srow in ((self._sid, self._srow), (self._sid2, self._srow2)):
            if not sid.shape[0]:
                continue
            pos = np.minimum(np.searchsorted(sid, ids), sid.shape[0] - 1)
            hit = (sid[pos] == ids) & (srow[pos] != _DEAD)
            pos = pos[hit]
            if pos.shape[0]:
                self._set_dead(srow[pos])
                self._tables_dead += int(pos.shape[0])
                self._dead_rows.append(srow[pos].copy())
                srow[pos] = _DEAD
        if self._delta:
            if ids.shape[0] <= 4 * len(self._delta):
                gone = map(self._delta.pop, ids.tolist(), [None] * ids.shape[0])
                dead = [r for r in gone if r is not None]
            else:
                keys = np.fromiter(self._delta.keys(), np.int64, len(self._delta))
                common = keys[np.isin(keys, ids)].tolist()
                dead = [self._delta.pop(k) for k in common]
            if dead:
                self._set_dead(np.asarray(dead, np.uint32))

    def _set_dead(self, rownums: np.ndarray) -> None:
        ch = rownums >> CHUNK_BITS
        for c in np.unique(ch).tolist():
            self._alive[c][rownums[ch == c] & _MASK] = 0
        self._n_alive -= int(rownums.shape[0])

    def _append(self, ids: np.ndarray, rows: np.ndarray) -> None:
        n = ids.shape[0]
        if self._n_rows + n > 0x7FFFFFFF:
            raise ValueError("index_full: more than 2^31 - 1 rows")
        done = 0
        while done < n:
            c, o = divmod(self._n_rows, CHUNK)
            if c == len(self._rows):
                self._rows.append(_alloc((CHUNK, HASH_BYTES), np.uint8))
                self._rids.append(_alloc((CHUNK,), np.int64))
                self._alive.append(_alloc((CHUNK,), np.uint8))
            k = min(CHUNK - o, n - done)
            self._rows[c][o : o + k] = rows[done : done + k]
            self._rids[c][o : o + k] = ids[done : done + k]
            self._alive[c][o : o + k] = 1
            self._n_rows += k
            done += k
        self._n_alive += n

    @staticmethod
    def _gather(chunks: list[np.ndarray], rownums: np.ndarray) -> np.ndarray:
        rownums = np.asarray(rownums, np.int64)
        out = np.empty((rownums.shape[0],) + chunks[0].shape[1:], chunks[0].dtype)
        ch = rownums >> CHUNK_BITS
        order = np.argsort(ch, kind="stable")
        sch = ch[order]
        bounds = np.flatnonzero(np.diff(sch)) + 1
        for part in np.split(order, bounds):
            if part.shape[0]:
                out[part] = chunks[int(ch[part[0]])][rownums[part] & _MASK]
        return out

    def _maybe_compact(self) -> None:
        dead = self._n_rows - self._n_alive
        if dead > max(CHUNK, self._n_rows // 4):
            self._compact()

    def _compact(self) -> None:
        """Move live rows down over the tombstoned ones (in place), free the emptied chunks,
        rebuild the tables (one at a time) and the id map."""
        w = 0
        for c in range((self._n_rows + CHUNK - 1) // CHUNK):
            hi = min(CHUNK, self._n_rows - c * CHUNK)
            keep = self._alive[c][:hi].astype(bool)
            rows, rids = self._rows[c][:hi][keep], self._rids[c][:hi][keep]
            k, s = rows.shape[0], 0
            while s < k:
                wc, wo = divmod(w, CHUNK)
                m = min(CHUNK - wo, k - s)
                self._rows[wc][wo : wo + m] = rows[s : s + m]
                self._rids[wc][wo : wo + m] = rids[s : s + m]
                self._alive[wc][wo : wo + m] = 1
                s += m
                w += m
        assert w == self._n_alive
        for c in range(w // CHUNK, len(self._alive)):
            self._alive[c][w - c * CHUNK if c == w // CHUNK else 0 :] = 0
        keep_chunks = (w + CHUNK - 1) // CHUNK
        del self._rows[keep_chunks:], self._rids[keep_chunks:], self._alive[keep_chunks:]
        self._n_rows = w
        self._n_main = 0
        self._tables = []
        self._tables_dead = 0
        self._merge(force_full=True)

    # ------------------------------------------------------------------ merge

    def _merge(self, force_full: bool) -> None:
        """Bring the delta into the tables (and the id map); full rebuild when the layout
        should change or when asked."""
        n = self._n_alive
        lo, hi = self._n_main, self._n_rows
        relayout = not self._tables or not (self._layout_n / 2 <= n <= 2 * self._layout_n)
        # a delta of more than a quarter of the tables: the radix build over everything is
        # cheaper than scattering that many rows into the old tables
        full = force_full or relayout or hi - lo > max(self._delta_max, lo // 4)
        if full:
            self._tables = []  # free the old tables before anything new is allocated
            self._merge_map(0, hi, True)  # drops duplicate ids: the tables skip their rows
            n = self._n_alive
            widths = plan_layout(n) if self._substrings is None else _widths(self._substrings)
            self._layout_n = n
            starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
            spec = list(zip(starts, widths, strict=True))
            self._tables_dead = 0
            lo = 0
        else:
            spec = [(t.start, t.bits) for t in self._tables]
        if self._c and not full:
            self._merge_in_place(lo, hi)
            return
        check = self._tables_dead > 0
        olds: list[_Table | None] = [None] * len(spec) if full else list(self._tables)
        self._tables = []
        scratch = None
        if self._c:  # CSR buffers reused by every table (fresh pages cost a fault each)
            top = 1 << max(b for _, b in spec)
            most = max([t.n for t in olds if t is not None] + [0]) + hi - lo + 1
            scratch = (
                None if full else _alloc((top + 1,), np.uint32),
                None if full else _alloc((most,), np.uint32),
                _alloc((top + 1,), np.uint32),
                _alloc((most,), np.uint32),
            )
        for i, (start, bits) in enumerate(spec):
            old, olds[i] = olds[i], None  # the old table is freed as soon as it is read
            self._tables.append(self._build_table(old, check, lo, hi, start, bits, scratch))
        del scratch
        self._tables_dead = 0
        self._dead_rows = []
        self._n_main = hi
        if not full:
            self._merge_map(lo, hi, False)

    def _merge_in_place(self, lo: int, hi: int) -> None:
        """Merge the delta into the slot tables in place (O(delta + tombstones), no copy); a
        table whose overflow array has no room left is rebuilt through CSR instead (with a
        fresh margin of room)."""
        assert _mih is not None
        dead = (
            np.concatenate(self._dead_rows).astype(np.uint32)
            if self._dead_rows
            else np.zeros(0, np.uint32)
        )
        full_up = []
        for i, t in enumerate(self._tables):
            used, change = _mih.slot_update(
                t.offsets, t.ids, t.used, self._rows, self._alive, lo, hi, dead, t.start, t.bits
            )
            t.n = max(t.n + change, 0)
            if used is None:  # its tombstones are out; the delta is not in
                full_up.append(i)
            else:
                t.used = used
        if full_up:
            top = 1 << max(self._tables[i].bits for i in full_up)
            most = max(self._tables[i].n for i in full_up) + hi - lo + 1
            scratch = (
                _alloc((top + 1,), np.uint32),
                _alloc((most,), np.uint32),
                _alloc((top + 1,), np.uint32),
                _alloc((most,), np.uint32),
            )
            for i in full_up:
                old = self._tables[i]
                self._tables[i] = self._build_table(old, True, lo, hi, old.start, old.bits, scratch)
                del old
        self._tables_dead = 0
        self._dead_rows = []
        self._n_main = hi
        self._merge_map(lo, hi, False)

    def _build_table(
        self,
        old: _Table | None,
        check: bool,
        lo: int,
        hi: int,
        start: int,
        bits: int,
        scratch: tuple[np.ndarray | None, ...] | None = None,
    ) -> _Table:
        old_n = old.n if old is not None else 0
        if self._c:
            assert _mih is not None and scratch is not None
            old_off, old_ids, offsets, ids = scratch
            assert offsets is not None and ids is not None
            if old is not None:  # back to CSR for the merge, then the slot form freed
                assert old_off is not None and old_ids is not None
                _mih.to_csr(old.offsets, old.ids, bits, old_off, old_ids)
                del old
            n = _mih.merge(
                old_off,
                old_ids,
                check,
                self._rows,
                self._alive,
                lo,
                hi,
                start,
                bits,
                offsets,
                ids,
            )
            slots = _alloc((1 << bits,), np.uint32)
            need = _mih.ovf_size(offsets, bits)
            ovf = _alloc((need + max(self._ovf_room, need // 8),), np.uint32)  # for merges
            used = _mih.to_slots(offsets, ids, bits, slots, ovf)
            return _Table(slots, ovf, start, bits, n, True, used)
        offsets = _alloc((((1 << bits) + 1),), np.uint32)
        ids = _alloc((max(old_n + hi - lo, 1),), np.uint32)
        # numpy: the live rows below hi, sorted by substring (stable: rows ascending)
        keys_parts, rows_parts = [], []
        for c in range((hi + CHUNK - 1) // CHUNK):
            top = min(CHUNK, hi - c * CHUNK)
            live = np.flatnonzero(self._alive[c][:top])
            keys_parts.append(_substrings(_words(self._rows[c][live]), start, bits))
            rows_parts.append((live + c * CHUNK).astype(np.uint32))
        keys = np.concatenate(keys_parts) if keys_parts else np.zeros(0, np.uint32)
        rownums = np.concatenate(rows_parts) if rows_parts else np.zeros(0, np.uint32)
        order = np.argsort(keys, kind="stable")
        ids[: order.shape[0]] = rownums[order]
        offsets[1:] = np.cumsum(np.bincount(keys, minlength=1 << bits), dtype=np.uint32)
        return _Table(offsets, ids, start, bits, int(keys.shape[0]), False)

    def _merge_map(self, lo: int, hi: int, full: bool) -> None:
        rn = np.arange(lo, hi, dtype=np.int64)
        if rn.shape[0]:
            live = self._gather(self._alive, rn).astype(bool)
            rn = rn[live]
        new_ids = self._gather(self._rids, rn) if rn.shape[0] else np.zeros(0, np.int64)
        new_rows = rn.astype(np.uint32)
        if full:
            self._sid2, self._srow2 = np.zeros(0, np.int64), np.zeros(0, np.uint32)
            order = np.argsort(new_ids, kind="stable")
            self._sid, self._srow = new_ids[order], new_rows[order]
            del order, new_ids, new_rows
            last = np.ones(self._sid.shape[0], bool)  # an id twice: the later row wins
            np.not_equal(self._sid[1:], self._sid[:-1], out=last[:-1])
            if not last.all():
                self._set_dead(self._srow[~last])
                self._sid, self._srow = self._sid[last], self._srow[last]
        else:
            order = np.argsort(new_ids, kind="stable")
            new_ids, new_rows = new_ids[order], new_rows[order]
            self._sid2, self._srow2 = _sorted_union(self._sid2, self._srow2, new_ids, new_rows)
            if self._sid2.shape[0] > max(self._fold_min, self._sid.shape[0] // 16):
                self._sid, self._srow = _sorted_union(
                    self._sid, self._srow, self._sid2, self._srow2
                )
                self._sid2, self._srow2 = np.zeros(0, np.int64), np.zeros(0, np.uint32)
        self._delta = {}

    # ------------------------------------------------------------------ search

    def search(self, queries: np.ndarray, threshold: int = MAX_THRESHOLD) -> SearchHits:
        """Every stored hash within ``threshold`` bits of each query, exactly; sorted by query,
        distance, id."""
        return self._search(queries, threshold, False)[0]

    def search_rows(
        self, queries: np.ndarray, threshold: int = MAX_THRESHOLD
    ) -> tuple[SearchHits, np.ndarray]:
        """``search`` plus the stored hash of each hit (``(len(hits), 32)`` uint8), read where
        the search already is (cheaper than ``hashes(hits.ids)``, which looks every id up)."""
        hits, rows = self._search(queries, threshold, True)
        assert rows is not None
        return hits, rows

    def _search(
        self, queries: np.ndarray, threshold: int, want_rows: bool
    ) -> tuple[SearchHits, np.ndarray | None]:
        if isinstance(threshold, bool) or not 0 <= int(threshold) <= MAX_THRESHOLD:
            raise ValueError(f"threshold must be 0..{MAX_THRESHOLD}, not {threshold}")
        threshold = int(threshold)
        q = np.ascontiguousarray(queries, np.uint8)
        if q.ndim != 2 or q.shape[1] != HASH_BYTES:
            q = q.reshape(-1, HASH_BYTES)
        if not q.shape[0] or not self._n_alive:
            empty = np.zeros(0, np.int64)
            hits = SearchHits(empty, empty.copy(), np.zeros(0, np.int32))
            return hits, (np.zeros((0, HASH_BYTES), np.uint8) if want_rows else None)
        widths = tuple(t.bits for t in self._tables)
        radii = _radii(widths, self._n_main, threshold) if widths else ()
        if self._c:
            assert _mih is not None
            spec = tuple(
                (t.offsets, t.ids, t.start, t.bits, r)
                for t, r in zip(self._tables, radii, strict=True)
            )
            search = _mih.search

            def part(lo: int, hi: int) -> tuple[SearchHits, np.ndarray | None]:
                out = search(
                    spec,
                    self._rows,
                    self._alive,
                    self._rids,
                    self._n_main,
                    self._n_rows,
                    q[lo:hi],
                    threshold,
                    want_rows,
                )
                hits = SearchHits(
                    np.frombuffer(out[0], np.int64) + lo,
                    np.frombuffer(out[1], np.int64).copy(),
                    np.frombuffer(out[2], np.int32).copy(),
                )
                rows = (
                    np.frombuffer(out[3], np.uint8).reshape(-1, HASH_BYTES).copy()
                    if want_rows
                    else None
                )
                return hits, rows

            bounds = _split(q.shape[0], self.search_threads)
            if len(bounds) == 1:
                return part(*bounds[0])
            # the C search releases the GIL: one batch uses every core (a batch of 1,000 at
            # 10M takes ~0.1 s on one); parts are contiguous query ranges, so concatenating
            # them in order keeps the (query, distance, id) order
            parts = list(_pool(len(bounds)).map(lambda b: part(*b), bounds))
            hits = SearchHits(
                np.concatenate([h.query for h, _ in parts]),
                np.concatenate([h.ids for h, _ in parts]),
                np.concatenate([h.distances for h, _ in parts]),
            )
            rows = np.concatenate([r for _, r in parts if r is not None]) if want_rows else None
            return hits, rows
        hits, rownums = self._search_numpy(q, threshold, radii)
        if not want_rows:
            return hits, None
        if not rownums.shape[0]:
            return hits, np.zeros((0, HASH_BYTES), np.uint8)
        return hits, self._gather(self._rows, rownums)

    def _search_numpy(
        self, q: np.ndarray, threshold: int, radii: tuple[int, ...]
    ) -> tuple[SearchHits, np.ndarray]:
        """The same answers as the C search, from numpy gathers (and the hits' row numbers)."""
        qw = _words(q)
        parts_q, parts_r = [], []
        flips = {
            (t.bits, r): _flips(t.bits, r)
            for t, r in zip(self._tables, radii, strict=True)
            if r >= 0
        }
        for s in range(0, q.shape[0], 64):
            blk = qw[s : s + 64]
            nq = blk.shape[0]
            for t, r in zip(self._tables, radii, strict=True):
                if r < 0:
                    continue
                probes = _substrings(blk, t.start, t.bits)[:, None] ^ flips[(t.bits, r)][None, :]
                a = t.offsets[probes].astype(np.int64).ravel()
                lens = t.offsets[probes + 1].astype(np.int64).ravel() - a
                total = int(lens.sum())
                if not total:
                    continue
                qidx = np.repeat(np.repeat(np.arange(nq), probes.shape[1]), lens)
                first = np.repeat(np.cumsum(lens) - lens, lens)
                pos = np.repeat(a, lens) + (np.arange(total) - first)
                parts_q.append(qidx + s)
                parts_r.append(t.ids[pos].astype(np.int64))
            if self._n_rows > self._n_main:  # the delta: every query against every row
                dr = np.arange(self._n_main, self._n_rows, dtype=np.int64)
                parts_q.append(np.repeat(np.arange(nq) + s, dr.shape[0]))
                parts_r.append(np.tile(dr, nq))
        if not parts_q:
            empty = np.zeros(0, np.int64)
            return SearchHits(empty, empty.copy(), np.zeros(0, np.int32)), empty.copy()
        cq, cr = np.concatenate(parts_q), np.concatenate(parts_r)
        d = np.bitwise_count(_words(self._gather(self._rows, cr)) ^ qw[cq]).sum(
            axis=1, dtype=np.int32
        )
        ok = (d <= threshold) & self._gather(self._alive, cr).astype(bool)
        cq, cr, d = cq[ok], cr[ok], d[ok]
        key = np.unique(cq * (1 << 32) + cr, return_index=True)[1]
        cq, cr, d = cq[key], cr[key], d[key]
        ids = self._gather(self._rids, cr) if cr.shape[0] else np.zeros(0, np.int64)
        order = np.lexsort((ids, d, cq))
        return SearchHits(cq[order], ids[order], d[order]), cr[order]


def _sorted_union(
    sid: np.ndarray, srow: np.ndarray, new_ids: np.ndarray, new_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted id map ``sid``/``srow`` without its removed entries, with ``new_ids`` (sorted,
    none of them live in ``sid``) put in."""
    keep = srow != _DEAD
    if not keep.all():
        sid, srow = sid[keep], srow[keep]
    pos = np.searchsorted(sid, new_ids)
    return np.insert(sid, pos, new_ids), np.insert(srow, pos, new_rows)


def _check(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, np.int64).reshape(-1)
    rows = np.ascontiguousarray(rows, np.uint8)
    if rows.size != ids.shape[0] * HASH_BYTES:
        raise ValueError(
            f"index_shape: {ids.shape[0]} ids need {ids.shape[0]} rows of {HASH_BYTES} bytes, "
            f"got an array of shape {rows.shape}"
        )
    return ids, rows.reshape(-1, HASH_BYTES)


def _last_wins(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop all but the last occurrence of each id in a batch (as if added one by one)."""
    _, first_from_end = np.unique(ids[::-1], return_index=True)
    if first_from_end.shape[0] == ids.shape[0]:
        return ids, rows
    keep = np.sort(ids.shape[0] - 1 - first_from_end)
    return ids[keep], rows[keep]
