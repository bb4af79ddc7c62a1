"""PDQ index benchmark: consentry's ``hashindex.PdqIndex`` side by side with
python-threatexchange's ``PDQIndex`` (faiss ``IndexBinaryMultiHash``, what HMA 1.x uses), in
one run, on the same hashes and queries.

    python bench/matching.py --sizes 100000,1000000,10000000 --out bench/out/issue15-index.md
    python bench/matching.py --sizes 100000            # quick

Each (size, data kind, index) runs in a fresh subprocess so that its RSS is its own. Data
(seeded, synthetic): ``random`` (uniform 256-bit hashes) and ``clustered`` (near-duplicates of
n/50 seeds, each 0-16 bits from its seed, like a bank of re-uploads). Queries: 90% are a stored
hash with 0-40 random bits flipped, 10% uniform random; batches of 1,000 at threshold 31.

Columns: build s (hashes in memory to a searchable index; pytx is given its input as it
takes it, (hex, id) pairs, made before the clock starts), RSS MiB (the process after the
build with the input arrays freed: interpreter + numpy + the index; for pytx its entries
list, which it keeps, is part of it), peak MiB (the kernel's high-water mark, input
included), lookups/s (queries / wall time, one thread; ``2 thr``: two threads each searching
half the batches; ``per CPU-s``: queries per CPU-second of the whole process, faiss's own
threads included: the figure least moved by other work on a shared machine), p50 / p99 ms
per 1,000-query batch, recall (pairs found / pairs brute force finds on a sample of queries)
and extra (pairs found that brute force does not find).
``--reload-size N`` also rebuilds an index of N hashes ``--reload-cycles`` times in one
process and reports its RSS along the way (python-threatexchange #1813).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 31
BATCH = 1000


def rss_mib() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MiB."""
    vals = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            k, v = line.split(":")
            vals[k] = int(v.split()[0]) / 1024
    return vals["VmRSS"], vals["VmHWM"]


def flip_random_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> None:
    """In place: flip ``counts[i]`` random bits of row i (positions may repeat, so the
    distance is at most counts[i]; exact distances come from brute force anyway)."""
    for j in range(int(counts.max(initial=0))):
        idx = np.flatnonzero(counts > j)
        pos = rng.integers(0, 256, idx.shape[0])
        rows[idx, pos // 8] ^= (1 << (pos % 8)).astype(np.uint8)


def make_data(n: int, kind: str, seed: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, n, 0 if kind == "random" else 1])
    ids = np.arange(1, n + 1, dtype=np.int64)
    if kind == "random":
        return ids, rng.integers(0, 256, (n, 32), dtype=np.uint8)
    seeds = rng.integers(0, 256, (max(1, n // 50), 32), dtype=np.uint8)
    rows = np.empty((n, 32), np.uint8)
    step = 1 << 20
    for s in range(0, n, step):
        part = seeds[rng.integers(0, seeds.shape[0], min(step, n - s))]
        flip_random_bits(part, rng.integers(0, 17, part.shape[0]), rng)
        rows[s : s + part.shape[0]] = part
    return ids, rows


def make_queries(rows: np.ndarray, nq: int, seed: int = 16) -> np.ndarray:
    rng = np.random.default_rng([seed, rows.shape[0]])
    near = rows[rng.integers(0, rows.shape[0], nq)].copy()
    flip_random_bits(near, rng.integers(0, 41, nq), rng)
    rand = rng.random(nq) < 0.1
    near[rand] = rng.integers(0, 256, (int(rand.sum()), 32), dtype=np.uint8)
    return near


@dataclass
class Result:
    impl: str
    kind: str
    n: int
    build_s: float
    rss_mib: float
    peak_mib: float
    index_mib: float  # what the index says it holds (ours) or 0
    qps_1: float
    qps_2: float
    qps_cpu: float  # queries per CPU-second of the process (less noisy than wall)
    p50_ms: float
    p99_ms: float
    batches: int
    recall: float
    extra: int
    truth_pairs: int
    recall_queries: int
    hits_per_query: float
    update_ms: float  # ours: add 1,000 + remove 1,000 (delta), then one merge into the tables
    merge_ms: float
    note: str = ""


class Ours:
    name = "consentry"

    def __init__(self) -> None:
        from consentry.hashindex import PdqIndex

        self.ix = PdqIndex()

    def build(self, ids: np.ndarray, rows: np.ndarray) -> None:
        self.ix.build(ids, rows)

    def prepare(self, queries: np.ndarray) -> object:
        return queries

    def search(self, batch: object) -> set[tuple[int, int]] | int:
        hits = self.ix.search(batch, THRESHOLD)  # type: ignore[arg-type]
        return len(hits)

    def pairs(self, queries: np.ndarray) -> set[tuple[int, int]]:
        h = self.ix.search(queries, THRESHOLD)
        return set(zip(h.query.tolist(), h.ids.tolist(), strict=True))


class Pytx:
    name = "pytx PDQIndex"

    def __init__(self) -> None:
        from threatexchange.signal_type.pdq.pdq_index import PDQIndex

        self.cls = PDQIndex
        self.ix = None

    def build(self, ids: np.ndarray, rows: np.ndarray) -> None:
        entries = list(zip((bytes(r).hex() for r in rows), ids.tolist(), strict=True))
        t = time.perf_counter()
        self.ix = None
        gc.collect()
        self.ix = self.cls.build(entries)  # type: ignore[assignment]
        self.build_s = time.perf_counter() - t

    def prepare(self, queries: np.ndarray) -> object:
        return [bytes(r).hex() for r in queries]

    def search(self, batch: object) -> int:
        # the batched call under PDQIndex.query (one call per batch: pytx's fastest path)
        res = self.ix.index.search_with_distance_in_result(batch, THRESHOLD)  # type: ignore[union-attr]
        return sum(len(v) for v in res.values())

    def pairs(self, queries: np.ndarray) -> set[tuple[int, int]]:
        hexes = [bytes(r).hex() for r in queries]
        res = self.ix.index.search_with_distance_in_result(hexes, THRESHOLD)  # type: ignore[union-attr]
        out = set()
        for qi, h in enumerate(hexes):
            for local, _hash, _d in res[h]:
                out.add((qi, int(self.ix.local_id_to_entry[local][1])))  # type: ignore[union-attr]
        return out


def worker(impl: str, kind: str, n: int, batches: int, recall_q: int) -> Result:
    ids, rows = make_data(n, kind)
    # the same queries for every index: one seeded set of 20,000 (or more), a prefix used
    queries = make_queries(rows, max(batches * BATCH, 20_000))[: batches * BATCH]
    sample = queries[:recall_q]
    from consentry.hashindex.reference import brute_force

    truth_hits = brute_force(ids, rows, sample, THRESHOLD)
    truth = set(zip(truth_hits.query.tolist(), truth_hits.ids.tolist(), strict=True))
    engine = Ours() if impl == "ours" else Pytx()
    t = time.perf_counter()
    engine.build(ids, rows)
    build_s = getattr(engine, "build_s", time.perf_counter() - t)
    found = engine.pairs(sample)
    update_ms = merge_ms = 0.0
    if impl == "ours":  # updates: visible without a rebuild
        ix = engine.ix  # type: ignore[attr-defined]
        rng = np.random.default_rng(3)
        new = rng.integers(0, 256, (1000, 32), dtype=np.uint8)
        t = time.perf_counter()
        ix.add(np.arange(n + 1, n + 1001, dtype=np.int64), new)
        ix.remove(ids[:1000])
        update_ms = (time.perf_counter() - t) * 1000
        assert len(ix.search(new[:10], 0)) >= 10
        t = time.perf_counter()
        ix._merge(force_full=False)
        merge_ms = (time.perf_counter() - t) * 1000
        ix.add(ids[:1000], rows[:1000])  # back as it was, for the timings below
        ix.remove(np.arange(n + 1, n + 1001, dtype=np.int64))
        ix._merge(force_full=False)
    del ids, rows
    gc.collect()
    rss, peak = rss_mib()
    prepared = [engine.prepare(queries[i * BATCH : (i + 1) * BATCH]) for i in range(batches)]
    engine.search(prepared[0])  # warm
    lat = []
    hits = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for b in prepared:
        t = time.perf_counter()
        hits += engine.search(b)  # type: ignore[operator]
        lat.append(time.perf_counter() - t)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    qps1 = batches * BATCH / wall
    # two threads, each a share of the batches
    halves = [prepared[0::2], prepared[1::2]]
    t0 = time.perf_counter()
    threads = [threading.Thread(target=lambda h=h: [engine.search(b) for b in h]) for h in halves]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    qps2 = batches * BATCH / (time.perf_counter() - t0)
    lat_ms = np.asarray(lat) * 1000
    return Result(
        impl=engine.name,
        kind=kind,
        n=n,
        build_s=build_s,
        rss_mib=rss,
        peak_mib=peak,
        index_mib=(engine.ix.memory_bytes() / 2**20) if impl == "ours" else 0.0,  # type: ignore[attr-defined]
        qps_1=qps1,
        qps_2=qps2,
        qps_cpu=batches * BATCH / cpu,
        p50_ms=float(np.percentile(lat_ms, 50)),
        p99_ms=float(np.percentile(lat_ms, 99)),
        batches=batches,
        recall=len(found & truth) / max(len(truth), 1),
        extra=len(found - truth),
        truth_pairs=len(truth),
        recall_queries=recall_q,
        hits_per_query=hits / (batches * BATCH),
        update_ms=update_ms,
        merge_ms=merge_ms,
    )


def reload_worker(impl: str, n: int, cycles: int) -> dict:
    ids, rows = make_data(n, "random")
    engine = Ours() if impl == "ours" else Pytx()
    samples = []
    t0 = time.perf_counter()
    for _ in range(cycles):
        engine.build(ids, rows)
        if impl == "ours":
            engine.ix.add(ids[:100], rows[100:200])  # type: ignore[attr-defined]
        gc.collect()
        samples.append(rss_mib()[0])
    return {
        "impl": engine.name,
        "n": n,
        "cycles": cycles,
        "rss_first": samples[0],
        "rss_10": samples[min(9, cycles - 1)],
        "rss_last": samples[-1],
        "rss_max": max(samples),
        "peak": rss_mib()[1],
        "s_per_cycle": (time.perf_counter() - t0) / cycles,
    }


def run_sub(args: list[str], timeout: float) -> dict | str:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"did not finish within {timeout:.0f} s"
    if p.returncode:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        return f"exit {p.returncode}: {tail[0][:200]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def machine() -> str:
    def sh(c: str) -> str:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()

    import numpy

    try:
        from importlib.metadata import version

        import faiss  # noqa: F401
        import threatexchange  # noqa: F401

        peer = f"threatexchange {version('threatexchange')}, faiss-cpu {version('faiss-cpu')}"
    except Exception as e:  # noqa: BLE001
        peer = f"pytx unavailable: {e}"
    return "\n".join(
        [
            "```",
            sh("lscpu | head -12"),
            f"nproc: {sh('nproc')}",
            sh("free -g"),
            f"python {platform.python_version()}, numpy {numpy.__version__}, {peer}",
            f"load average before: {os.getloadavg()}",
            "```",
        ]
    )


def fmt_table(rows: list[Result | tuple[str, str, int, str]]) -> str:
    head = (
        "| n | data | index | build s | RSS MiB | peak MiB | lookups/s | 2 thr | per CPU-s | "
        "p50 ms/batch | p99 ms/batch | recall | extra | hits/query |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    out = []
    for r in rows:
        if isinstance(r, tuple):
            impl, kind, n, why = r
            out.append(f"| {n:,} | {kind} | {impl} | {why} |" + " |" * 10)
            continue
        out.append(
            f"| {r.n:,} | {r.kind} | {r.impl} | {r.build_s:.1f} | {r.rss_mib:,.0f} | "
            f"{r.peak_mib:,.0f} | {r.qps_1:,.0f} | {r.qps_2:,.0f} | {r.qps_cpu:,.0f} | "
            f"{r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.recall:.4f} ({r.truth_pairs:,} pairs) | {r.extra} | "
            f"{r.hits_per_query:.2f} |"
        )
    return head + "\n".join(out) + "\n"


def ratio_table(results: dict[tuple[str, int, str], Result]) -> str:
    lines = [
        "| n | data | lookups/s ours/pytx | 2 thr ours/pytx | per CPU-s ours/pytx | "
        "RSS pytx/ours | build pytx/ours |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for (kind, n, impl), r in sorted(results.items(), key=lambda x: (x[0][1], x[0][0])):
        if impl != "ours" or (kind, n, "pytx") not in results:
            continue
        p = results[(kind, n, "pytx")]
        lines.append(
            f"| {n:,} | {kind} | {r.qps_1 / p.qps_1:.1f}x | {r.qps_2 / p.qps_2:.1f}x | "
            f"{r.qps_cpu / p.qps_cpu:.1f}x | "
            f"{p.rss_mib / r.rss_mib:.1f}x | {p.build_s / max(r.build_s, 1e-9):.1f}x |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--kinds", default="random,clustered")
    ap.add_argument("--impls", default="ours,pytx")
    ap.add_argument("--batches", type=int, default=20, help="1,000-query batches for ours")
    ap.add_argument("--pytx-queries", type=int, default=0, help="pytx queries (0: auto)")
    ap.add_argument("--recall-queries", type=int, default=0, help="0: auto by size")
    ap.add_argument("--reload-size", type=int, default=0)
    ap.add_argument("--reload-cycles", type=int, default=100)
    ap.add_argument("--pytx-reload-cycles", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--worker", nargs=5, metavar=("IMPL", "KIND", "N", "BATCHES", "RECALLQ"))
    ap.add_argument("--reload-worker", nargs=3, metavar=("IMPL", "N", "CYCLES"))
    a = ap.parse_args()
    if a.worker:
        impl, kind, n, b, rq = a.worker
        print(json.dumps(asdict(worker(impl, kind, int(n), int(b), int(rq)))))
        return
    if a.reload_worker:
        impl, n, c = a.reload_worker
        print(json.dumps(reload_worker(impl, int(n), int(c))))
        return
    started = datetime.now(UTC)
    header = machine()
    results: dict[tuple[str, int, str], Result] = {}
    table_rows: list[Result | tuple[str, str, int, str]] = []
    for n in [int(s) for s in a.sizes.split(",")]:
        for kind in a.kinds.split(","):
            for impl in a.impls.split(","):
                if impl == "ours":
                    batches = a.batches
                else:  # pytx is ~1-15 ms a query: fewer batches at size
                    q = a.pytx_queries or (
                        5000 if n <= 100_000 else 3000 if n <= 1_000_000 else 2000
                    )
                    batches = max(2, q // BATCH)
                rq = a.recall_queries or (300 if n <= 1_000_000 else 100)
                t = time.perf_counter()
                res = run_sub(["--worker", impl, kind, str(n), str(batches), str(rq)], a.timeout)
                name = "consentry" if impl == "ours" else "pytx PDQIndex"
                if isinstance(res, str):
                    print(f"{n} {kind} {impl}: {res}", flush=True)
                    table_rows.append((name, kind, n, res))
                    continue
                r = Result(**res)
                results[(kind, n, impl)] = r
                table_rows.append(r)
                print(
                    f"{n} {kind} {impl}: build {r.build_s:.1f}s rss {r.rss_mib:.0f} MiB "
                    f"qps {r.qps_1:,.0f} (2thr {r.qps_2:,.0f}) recall {r.recall:.4f} "
                    f"extra {r.extra} upd {r.update_ms:.0f}ms merge {r.merge_ms:.0f}ms "
                    f"[{time.perf_counter() - t:.0f}s]",
                    flush=True,
                )
    reloads = []
    if a.reload_size:
        for impl in a.impls.split(","):
            cyc = a.reload_cycles if impl == "ours" else a.pytx_reload_cycles
            res = run_sub(["--reload-worker", impl, str(a.reload_size), str(cyc)], a.timeout)
            print(f"reload {impl}: {res}", flush=True)
            reloads.append(res)
    text = [
        f"# PDQ index benchmark ({started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"`{' '.join(['python bench/matching.py', *sys.argv[1:]])}`",
        "",
        "## Machine",
        "",
        header,
        f"load average after: {os.getloadavg()}",
        "",
        "## Results (threshold 31, batches of 1,000 queries)",
        "",
        fmt_table(table_rows),
        "## Ratios (same run)",
        "",
        ratio_table(results),
        "## Updates (consentry): 1,000 adds + 1,000 removes into the delta, then one merge",
        "",
        "| n | data | add+remove ms | merge ms | index MiB (memory_bytes) |",
        "|---:|---|---:|---:|---:|",
    ]
    for (kind, n, impl), r in sorted(results.items(), key=lambda x: (x[0][1], x[0][0])):
        if impl == "ours":
            text.append(
                f"| {n:,} | {kind} | {r.update_ms:.0f} | {r.merge_ms:.0f} | {r.index_mib:,.0f} |"
            )
    if reloads:
        text += [
            "",
            "## Full rebuilds in one process (RSS MiB after each `build`)",
            "",
            "| index | n | cycles | after 1st | after 10th | after last | max | s/cycle |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in reloads:
            if isinstance(r, str):
                text.append(f"| ? | {a.reload_size:,} | | {r} | | | | |")
            else:
                text.append(
                    f"| {r['impl']} | {r['n']:,} | {r['cycles']} | {r['rss_first']:,.0f} | "
                    f"{r['rss_10']:,.0f} | {r['rss_last']:,.0f} | {r['rss_max']:,.0f} | "
                    f"{r['s_per_cycle']:.1f} |"
                )
    text += ["", __doc__.split("\n\n", 2)[2].strip(), ""]
    out = "\n".join(text)
    print(out)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(out)


if __name__ == "__main__":
    main()
