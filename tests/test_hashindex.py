"""The PDQ index (hashindex.PdqIndex) answers exactly what brute force answers: every stored
hash within the threshold, no more, for random and clustered banks, through adds, removes,
replacements, merges and compaction, on the C path and on the numpy path alike."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentry.hashindex import MAX_THRESHOLD, PdqIndex, SearchHits, hex_to_rows, rows_to_hex
from consentry.hashindex import index as index_mod
from consentry.hashindex.reference import brute_force

HAVE_C = index_mod._mih is not None
PATHS = [
    pytest.param(True, id="c", marks=pytest.mark.skipif(not HAVE_C, reason="no _mih")),
    pytest.param(False, id="numpy"),
]


def flip_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Copies of ``rows`` with ``counts[i]`` distinct random bits of row i flipped."""
    out = rows.copy()
    for i, k in enumerate(counts.tolist()):
        for b in rng.choice(256, int(k), replace=False).tolist():
            out[i, b // 8] ^= 1 << (b % 8)
    return out


def random_bank(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.choice(1 << 40, n, replace=False).astype(np.int64) - (1 << 39)  # negatives too
    return ids, rng.integers(0, 256, (n, 32), dtype=np.uint8)


def clustered_bank(n: int, rng: np.random.Generator, seeds: int = 50) -> tuple[np.ndarray, ...]:
    """Near-duplicates of a few seeds (0-24 bits off), like a real bank of re-uploads."""
    base = rng.integers(0, 256, (seeds, 32), dtype=np.uint8)
    rows = flip_bits(base[rng.integers(0, seeds, n)], rng.integers(0, 25, n), rng)
    return np.arange(n, dtype=np.int64) * 3 + 1, rows


def queries_near(rows: np.ndarray, nq: int, rng: np.random.Generator) -> np.ndarray:
    """Queries 0-40 bits from stored hashes, plus a few random ones."""
    near = flip_bits(rows[rng.integers(0, rows.shape[0], nq)], rng.integers(0, 41, nq), rng)
    return np.concatenate([near, rng.integers(0, 256, (max(nq // 10, 1), 32), dtype=np.uint8)])


def assert_same(got: SearchHits, want: SearchHits) -> None:
    assert got.query.dtype == np.int64 and got.ids.dtype == np.int64
    assert got.distances.dtype == np.int32
    np.testing.assert_array_equal(got.query, want.query)
    np.testing.assert_array_equal(got.ids, want.ids)
    np.testing.assert_array_equal(got.distances, want.distances)


def live(model: dict[int, bytes]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(sorted(model), np.int64)
    rows = np.frombuffer(b"".join(model[i] for i in ids.tolist()), np.uint8).reshape(-1, 32)
    return ids, rows


@pytest.mark.parametrize("use_c", PATHS)
@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("n", [300, 20_000])
def test_search_equals_brute_force(use_c: bool, kind: str, n: int) -> None:
    rng = np.random.default_rng(n + len(kind))
    ids, rows = (random_bank if kind == "random" else clustered_bank)(n, rng)
    ix = PdqIndex(use_c=use_c)
    ix.build(ids, rows)
    assert len(ix) == n and ix.compiled is use_c
    q = queries_near(rows, 60, rng)
    total = 0
    for thr in (0, 1, 7, 16, 30, MAX_THRESHOLD):
        want = brute_force(ids, rows, q, thr)
        assert_same(ix.search(q, thr), want)
        total += len(want)
    assert total > 60  # the queries do hit: the test would notice a missed match


@pytest.mark.parametrize("use_c", PATHS)
def test_duplicate_hashes_and_edges(use_c: bool) -> None:
    rng = np.random.default_rng(3)
    ix = PdqIndex(use_c=use_c)
    empty = ix.search(rng.integers(0, 256, (3, 32), dtype=np.uint8))
    assert len(empty) == 0 and empty.ids.dtype == np.int64
    row = rng.integers(0, 256, (1, 32), dtype=np.uint8)
    ids = np.array([5, -2, 9, 7], np.int64)
    ix.add(ids, np.repeat(row, 4, axis=0))  # four ids, one hash
    hits = ix.search(np.concatenate([row, row]), 0)
    np.testing.assert_array_equal(hits.query, [0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(hits.ids, [-2, 5, 7, 9, -2, 5, 7, 9])
    np.testing.assert_array_equal(hits.distances, np.zeros(8))
    assert len(ix.search(np.zeros((0, 32), np.uint8))) == 0
    far = row.copy()
    far[0, :4] ^= 0xFF  # exactly 32 bits away: outside 31
    assert len(ix.search(far, 31)) == 0
    far[0, 0] ^= 0x01  # 31 bits away: inside
    assert len(ix.search(far, 31)) == 4 and len(ix.search(far, 30)) == 0
    for bad in (-1, 32, True):
        with pytest.raises(ValueError, match="threshold"):
            ix.search(row, bad)
    with pytest.raises(ValueError, match="index_shape"):
        ix.add(np.array([1, 2]), row)


@pytest.mark.parametrize("use_c", PATHS)
def test_updates_merges_and_compaction(use_c: bool) -> None:
    """Adds, replacements and removes are visible at once, before and after merges, and after
    a compaction renumbers the rows."""
    rng = np.random.default_rng(11)
    ix = PdqIndex(delta_max=500, use_c=use_c)
    ids, rows = clustered_bank(3000, rng, seeds=20)
    model = dict(zip(ids.tolist(), map(bytes, rows), strict=True))
    ix.build(ids, rows)
    q = queries_near(rows, 40, rng)
    for step in range(12):
        new_ids = rng.choice(ids, 300, replace=False)  # replacements...
        new_ids = np.concatenate([new_ids, np.arange(300) + 10_000 * (step + 1)])  # ...and new
        new_rows = flip_bits(rows[rng.integers(0, 3000, 600)], rng.integers(0, 10, 600), rng)
        ix.add(new_ids, new_rows)
        model.update(zip(new_ids.tolist(), map(bytes, new_rows), strict=True))
        gone = rng.choice(np.asarray(list(model), np.int64), 250, replace=False)
        ix.remove(np.concatenate([gone, [-(10**12)]]))  # an unknown id is ignored
        for g in gone.tolist():
            del model[g]
        assert len(ix) == len(model)
        mids, mrows = live(model)
        assert_same(ix.search(q, 31), brute_force(mids, mrows, q, 31))
    st_ = ix.stats()
    assert st_.indexed_rows > 3000 and st_.delta_rows <= 500  # merges happened
    found, got = ix.hashes(np.array([mids[0], -(10**12)]))
    assert found.tolist() == [True, False] and bytes(got[0]) == model[int(mids[0])]


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
@pytest.mark.parametrize("room", [0, 1 << 16])
def test_in_place_merges_and_full_overflow(room: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Merges into the slot tables in place, and (room 0) the fallback when a table's
    overflow array is full and the second id map folded into the first at every merge: the
    answers stay brute force's."""
    monkeypatch.setattr(PdqIndex, "_ovf_room", room)
    monkeypatch.setattr(PdqIndex, "_fold_min", room)  # room 0: the id maps fold at each merge
    test_updates_merges_and_compaction(True)


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_compaction_frees_rows() -> None:
    rng = np.random.default_rng(5)
    ids, rows = random_bank(100_000, rng)
    ix = PdqIndex()
    ix.build(ids, rows)
    before = ix.memory_bytes()
    keep = rng.random(100_000) < 0.2
    ix.remove(ids[~keep])
    st_ = ix.stats()
    assert st_.dead_rows == 0 and st_.rows == int(keep.sum())  # compacted
    assert ix.memory_bytes() < before * 0.6
    q = queries_near(rows, 50, rng)
    assert_same(ix.search(q), brute_force(ids[keep], rows[keep], q, 31))


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_c_and_numpy_paths_agree_after_the_same_operations() -> None:
    rng = np.random.default_rng(8)
    a, b = PdqIndex(delta_max=700, use_c=True), PdqIndex(delta_max=700, use_c=False)
    for ix in (a, b):
        ix.build(*clustered_bank(5000, np.random.default_rng(1)))
    for _ in range(4):
        ids = rng.integers(0, 20_000, 800).astype(np.int64)
        rows = rng.integers(0, 256, (800, 32), dtype=np.uint8)
        gone = rng.integers(0, 20_000, 300)
        for ix in (a, b):
            ix.add(ids, rows)
            ix.remove(gone)
    assert len(a) == len(b)
    q = queries_near(rows, 80, rng)
    for thr in (0, 12, 31):
        assert_same(a.search(q, thr), b.search(q, thr))


@pytest.mark.parametrize("use_c", PATHS)
def test_search_rows_gives_each_hits_stored_hash(use_c: bool) -> None:
    rng = np.random.default_rng(31)
    ids, rows = clustered_bank(6000, rng)
    ix = PdqIndex(delta_max=300, use_c=use_c)
    ix.build(ids[:5000], rows[:5000])
    ix.add(ids[5000:], rows[5000:])  # some hits come from the delta
    q = queries_near(rows, 80, rng)
    hits, got = ix.search_rows(q, 31)
    assert_same(hits, ix.search(q, 31))
    assert len(hits) > 80 and got.shape == (len(hits), 32)
    by_id = dict(zip(ids.tolist(), map(bytes, rows), strict=True))
    assert [bytes(r) for r in got] == [by_id[i] for i in hits.ids.tolist()]
    _, none = PdqIndex(use_c=use_c).search_rows(q)
    assert none.shape == (0, 32)


@pytest.mark.parametrize("use_c", PATHS)
def test_build_from_batches_later_hash_wins(use_c: bool) -> None:
    rng = np.random.default_rng(21)
    ids, rows = random_bank(9000, rng)
    again = rng.integers(0, 256, (500, 32), dtype=np.uint8)
    ix = PdqIndex(use_c=use_c)
    ix.build_from([(ids[:4000], rows[:4000]), (ids[4000:], rows[4000:]), (ids[:500], again)])
    assert len(ix) == 9000
    final = rows.copy()
    final[:500] = again
    q = np.concatenate([queries_near(final, 100, rng), rows[:20]])
    assert_same(ix.search(q, 31), brute_force(ids, final, q, 31))
    ix.build_from([])
    assert len(ix) == 0 and len(ix.search(q)) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "build"]),
            st.lists(st.integers(-5, 60), min_size=1, max_size=40),
            st.integers(0, 2**32 - 1),
        ),
        min_size=1,
        max_size=12,
    ),
    threshold=st.integers(0, MAX_THRESHOLD),
    use_c=st.booleans() if HAVE_C else st.just(False),
)
def test_property_any_sequence_of_updates(ops: list, threshold: int, use_c: bool) -> None:
    """Any sequence of adds (duplicates in a batch: the last wins), removes and builds leaves
    an index that answers as brute force over the model does."""
    ix = PdqIndex(delta_max=16, use_c=use_c)
    model: dict[int, bytes] = {}
    seeds = np.random.default_rng(0).integers(0, 256, (4, 32), dtype=np.uint8)
    for op, idlist, seed in ops:
        rng = np.random.default_rng(seed)
        ids = np.asarray(idlist, np.int64)
        rows = flip_bits(
            seeds[rng.integers(0, 4, ids.shape[0])], rng.integers(0, 40, ids.shape[0]), rng
        )
        if op == "add":
            ix.add(ids, rows)
            model.update(zip(ids.tolist(), map(bytes, rows), strict=True))
        elif op == "remove":
            ix.remove(ids)
            for i in idlist:
                model.pop(i, None)
        else:
            ix.build(ids, rows)
            model = dict(zip(ids.tolist(), map(bytes, rows), strict=True))
    assert len(ix) == len(model)
    q = flip_bits(seeds[[0, 1, 2, 3, 0]], np.array([0, 5, 15, 25, 31]), np.random.default_rng(1))
    mids, mrows = live(model) if model else (np.zeros(0, np.int64), np.zeros((0, 32), np.uint8))
    assert_same(ix.search(q, threshold), brute_force(mids, mrows, q, threshold))


@given(n=st.integers(0, 200_000_000), threshold=st.integers(0, MAX_THRESHOLD))
def test_layout_and_radii_keep_the_pigeonhole(n: int, threshold: int) -> None:
    """Whatever the size, the substrings cover the 256 bits and the probe radii are such that
    a hash within the threshold shares some substring within its table's radius."""
    widths = index_mod.plan_layout(n)
    assert sum(widths) == 256 and max(widths) <= 24 and min(widths) >= 8
    radii = index_mod._radii(widths, n, threshold)
    assert sum(r + 1 for r in radii) > threshold and max(radii) <= 3


def test_layout_follows_size() -> None:
    assert len(index_mod.plan_layout(10_000_000)) == 11  # 23-24 bits at 10M
    assert len(index_mod.plan_layout(100_000)) >= 16  # small indexes: narrow substrings
    offsets = sum(4 << b for b in index_mod.plan_layout(1_000_000))
    assert offsets <= 48 * 1_000_000


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_concurrent_searches_agree() -> None:
    rng = np.random.default_rng(2)
    ids, rows = clustered_bank(30_000, rng)
    ix = PdqIndex()
    ix.build(ids, rows)
    q = queries_near(rows, 300, rng)
    want = brute_force(ids, rows, q, 31)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                assert_same(ix.search(q, 31), want)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_search_releases_the_gil() -> None:
    """Python code runs while a search is inside C (so two threads, or a server's event loop,
    are not held up by a lookup): the main thread's longest pause during one long search call
    stays far below the call's length."""
    rng = np.random.default_rng(9)
    ids, rows = random_bank(100_000, rng)
    ix = PdqIndex()
    ix.build(ids, rows)
    q = queries_near(rows, 2000, rng)
    t0 = time.perf_counter()
    ix.search(q, 31)
    one = time.perf_counter() - t0
    q = np.concatenate([q] * max(1, int(0.6 / max(one, 1e-3))))  # one call of ~0.6 s
    done = threading.Event()
    took: list[float] = []

    def search() -> None:
        t = time.perf_counter()
        ix.search(q, 31)
        took.append(time.perf_counter() - t)
        done.set()

    th = threading.Thread(target=search)
    last, gap = time.perf_counter(), 0.0
    th.start()
    while not done.is_set():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    th.join()
    assert took[0] > 0.3 and gap < took[0] / 2, (took, gap)


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_slot_tables_round_trip_to_csr() -> None:
    """The C search's slot form holds exactly the CSR table's buckets (empty, one row, many)."""
    mih = index_mod._mih
    rng = np.random.default_rng(12)
    bits = 10
    counts = rng.choice([0, 0, 1, 1, 2, 5, 40], 1 << bits)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)
    ids = rng.integers(0, 2**31 - 1, int(offsets[-1])).astype(np.uint32)
    slots = np.zeros(1 << bits, np.uint32)
    ovf = np.zeros(mih.ovf_size(offsets, bits), np.uint32)
    assert mih.to_slots(offsets, ids, bits, slots, ovf) == ovf.shape[0]
    assert (slots == 0xFFFFFFFF).sum() == (counts == 0).sum()
    back_off = np.zeros_like(offsets)
    back_ids = np.zeros_like(ids)
    assert mih.to_csr(slots, ovf, bits, back_off, back_ids) == ids.shape[0]
    np.testing.assert_array_equal(back_off, offsets)
    np.testing.assert_array_equal(back_ids, ids)
    with pytest.raises(ValueError):
        mih.to_slots(offsets, ids, bits, slots, ovf[:-1])  # overflow too small: refused


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not HAVE_C, reason="no _mih")
def test_memory_flat_over_rebuilds() -> None:
    """20 full rebuilds of a 200k index (python-threatexchange #1813: memory grew on reload):
    the index frees what it held before filling again, so RSS stays put."""
    rng = np.random.default_rng(4)
    ids, rows = random_bank(200_000, rng)
    ix = PdqIndex()
    ix.build(ids, rows)
    ix.add(ids[:1000], rows[1000:2000])
    ix.search(rows[:100])
    base = _rss()
    for _ in range(20):
        ix.build(ids, rows)
        ix.add(ids[:1000], rows[1000:2000])
        ix.remove(ids[5000:6000])
        assert len(ix.search(rows[2000:2100], 31)) >= 100
    growth = _rss() - base
    assert growth < 8 << 20, f"RSS grew {growth / 2**20:.1f} MiB over 20 rebuilds"


def test_hex_round_trip_and_memory_bytes() -> None:
    hexes = ["f" * 63 + "0", "0123456789abcdef" * 4]
    rows = hex_to_rows(hexes)
    assert rows_to_hex(rows) == hexes
    ix = PdqIndex()
    ix.add(np.array([1, 2]), rows)
    assert ix.memory_bytes() >= 2 * 32 and math.isfinite(ix.memory_bytes())
    hits = ix.search(rows, 0)
    assert hits.ids.tolist() == [1, 2] and hits.query.tolist() == [0, 1]


@pytest.mark.skipif(not HAVE_C, reason="no _mih: the split applies to the C search only")
def test_a_batch_split_over_threads_answers_as_one_thread() -> None:
    """One batch is split into contiguous query ranges, one per thread; the answers (and their
    rows) are those of one thread, in the same order, including the delta's hits."""
    rng = np.random.default_rng(47)
    ids, rows = clustered_bank(30_000, rng)
    ix = PdqIndex(delta_max=2000)
    ix.build(ids[:29_000], rows[:29_000])
    ix.add(ids[29_000:], rows[29_000:])
    q = queries_near(rows, 900, rng)
    ix.search_threads = 1
    one, one_rows = ix.search_rows(q, 31)
    assert index_mod._split(len(q), 3) == [(0, 330), (330, 660), (660, 990)]
    ix.search_threads = 3
    three, three_rows = ix.search_rows(q, 31)
    assert_same(three, one)
    np.testing.assert_array_equal(three_rows, one_rows)
    assert_same(ix.search(q[:10], 31), _first(one, 10))
    assert index_mod._split(40, 8) == [(0, 40)]  # a small batch stays on its caller


def _first(hits: SearchHits, nq: int) -> SearchHits:
    keep = hits.query < nq
    return SearchHits(hits.query[keep], hits.ids[keep], hits.distances[keep])
