"""The matching service at scale, end to end through ``MatchingService`` (issue 15 part 2):
fill a service SQLite database with N random PDQ hashes (one content item each, raw sqlite3
inside one transaction: the fill is not what is measured), open the service (the full index
build from ``signals``), then time ``rebuild_index`` and lookups through ``svc.lookup`` in
batches of 1,000 (queries 0-40 bits from a stored hash, as bench/matching.py), next to the
bare index's search of the same batches, and the process's RSS.

    .venv/bin/python bench/service_scale.py --n 1000000 [--n 10000000] [--out FILE]

Prints a Markdown table (and appends it to ``--out``). Random hashes are the index's worst
case (no clusters); the service's own overhead is the gap between the two lookup columns.
The per-CPU-second rates are this process's CPU time (on a shared machine the wall-clock
rates also measure the neighbours). The database is filled in a child process so that
SQLite's page cache does not count in the RSS columns.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from consentry.services.matching.service import open_service
from consentry.services.matching.types import Caller, Signal, SignalType

BATCH = 1000


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process, MB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def fill(db: Path, n: int) -> np.ndarray:
    """N random PDQ hashes into bank BENCH, one content item each, generated inside SQLite
    (a recursive CTE and ``randomblob``: no Python per row); the first 10k read back for the
    queries."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    (bank_id,) = conn.execute("SELECT id FROM banks WHERE name='BENCH'").fetchone()
    (first,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM bank_content").fetchone()
    series = "WITH RECURSIVE c(x) AS (SELECT :a UNION ALL SELECT x + 1 FROM c WHERE x < :b) "
    bounds = {"a": first, "b": first + n - 1}
    conn.execute("BEGIN")
    conn.execute(
        series + "INSERT INTO bank_content (id, bank_id, enabled, note, metadata_json, origin,"
        " person_id, created_at, updated_at) SELECT x, :bank, 1, NULL, '{}', 'bench', NULL,"
        " 'x', 'x' FROM c",
        {**bounds, "bank": bank_id},
    )
    conn.execute(
        series + "INSERT INTO signals (content_id, signal_type, value, quality)"
        " SELECT x, 'pdq', lower(hex(randomblob(32))), 100 FROM c",
        bounds,
    )
    conn.execute("COMMIT")
    values = [
        v
        for (v,) in conn.execute(
            "SELECT value FROM signals WHERE content_id >= ? ORDER BY id LIMIT 10000", (first,)
        )
    ]
    conn.close()
    return np.frombuffer(bytes.fromhex("".join(values)), np.uint8).reshape(-1, 32)


def fill_pg(url: str, n: int) -> np.ndarray:
    """As ``fill``, on PostgreSQL (``generate_series``, two ``md5(random())`` per hash)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        bank_id = conn.execute(sa.text("SELECT id FROM banks WHERE name='BENCH'")).scalar_one()
        first = conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM bank_content")).scalar()
        bounds = {"a": first, "b": first + n - 1, "bank": bank_id}
        conn.execute(
            sa.text(
                "INSERT INTO bank_content (id, bank_id, enabled, note, metadata_json, origin,"
                " person_id, created_at, updated_at) SELECT x, :bank, true, NULL, '{}', 'bench',"
                " NULL, 'x', 'x' FROM generate_series(:a, :b) x"
            ),
            bounds,
        )
        conn.execute(
            sa.text(
                "INSERT INTO signals (content_id, signal_type, value, quality) SELECT x, 'pdq',"
                " md5(random()::text) || md5(random()::text), 100 FROM generate_series(:a, :b) x"
            ),
            bounds,
        )
        conn.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('bank_content', 'id'), :b)"), bounds
        )
        values = list(
            conn.execute(
                sa.text("SELECT value FROM signals WHERE content_id >= :a ORDER BY id LIMIT 10000"),
                bounds,
            ).scalars()
        )
        size = conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    fill_pg.db_bytes = int(size)  # type: ignore[attr-defined]
    return np.frombuffer(bytes.fromhex("".join(values)), np.uint8).reshape(-1, 32)


def fresh_pg_database(server_url: str) -> tuple[str, object]:
    """A new database on the server; (its URL, a function that drops it)."""
    import uuid

    import sqlalchemy as sa

    server = sa.engine.make_url(server_url)
    name = f"consentry_scale_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def queries(stored: np.ndarray, n: int, seed: int) -> list[Signal]:
    """``n`` queries, each a stored hash with 0-40 random bits flipped."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        bits = np.unpackbits(stored[i % stored.shape[0]])
        flip = rng.choice(256, int(rng.integers(0, 41)), replace=False)
        bits[flip] ^= 1
        out.append(Signal(SignalType.PDQ, np.packbits(bits).tobytes().hex()))
    return out


def run(
    n: int, n_queries: int, seed: int, rebuilds: int, pg: str | None = None
) -> dict[str, float]:
    op = Caller.local()
    url, drop = fresh_pg_database(pg) if pg else (None, None)
    with tempfile.TemporaryDirectory(prefix="consentry-scale-") as tmp:
        home = Path(tmp) / "home"
        with open_service(home, url, start_sync=False) as svc:
            svc.create_bank(op, "BENCH")
        t = time.perf_counter()
        if url:
            stored = fill_pg(url, n)
            db_mb = fill_pg.db_bytes / 1e6  # type: ignore[attr-defined]
        else:
            # in a child process: SQLite's page cache would otherwise count in this RSS
            with multiprocessing.get_context("spawn").Pool(1) as pool:
                stored = pool.apply(fill, (home / "service.sqlite", n))
            db_mb = (home / "service.sqlite").stat().st_size / 1e6
        fill_s = time.perf_counter() - t
        rss_before, _ = rss_mb()
        t = time.perf_counter()
        svc = open_service(home, url, start_sync=False)
        open_s = time.perf_counter() - t
        try:
            rss_open, _ = rss_mb()
            t = time.perf_counter()
            status = svc.rebuild_index()
            rebuild_s = time.perf_counter() - t
            assert status.size == n, status
            qs = queries(stored, n_queries, seed + 1)
            batches = [qs[i : i + BATCH] for i in range(0, len(qs), BATCH)]
            svc.lookup(op, batches[0])  # warm
            t, c = time.perf_counter(), time.process_time()
            matched = 0
            for batch in batches:
                matched += sum(bool(r.matches) for r in svc.lookup(op, batch))
            lookup_s, lookup_cpu = time.perf_counter() - t, time.process_time() - c
            rows = [
                np.frombuffer(bytes.fromhex("".join(q.value for q in b)), np.uint8).reshape(-1, 32)
                for b in batches
            ]
            t, c = time.perf_counter(), time.process_time()
            for r in rows:
                svc.indexes.pdq.search(r, 31)
            index_s, index_cpu = time.perf_counter() - t, time.process_time() - c
            t = time.perf_counter()
            svc.flush_audit()
            flush_s = time.perf_counter() - t
            # more rebuilds: memory must stay flat (HMA #1813)
            rss_rebuilds = []
            for _ in range(rebuilds):
                svc.rebuild_index()
                rss_rebuilds.append(rss_mb()[0])
            rss_now, rss_peak = rss_mb()
        finally:
            svc.close()
            if drop is not None:
                drop()  # type: ignore[operator]
    return {
        "n": n,
        "fill_s": fill_s,
        "db_mb": db_mb,
        "open_s": open_s,
        "rebuild_s": rebuild_s,
        "lookups_per_s": n_queries / lookup_s,
        "index_per_s": n_queries / index_s,
        "lookups_per_cpu_s": n_queries / lookup_cpu,
        "index_per_cpu_s": n_queries / index_cpu,
        "matched": matched / n_queries,
        "flush_ms": flush_s * 1000,
        "rss_base_mb": rss_before,
        "rss_open_mb": rss_open,
        "rss_mb": rss_now,
        "rss_peak_mb": rss_peak,
        "rss_rebuilds": _series(rss_rebuilds),  # type: ignore[dict-item]
    }


def _series(values: list[float]) -> str:
    if len(values) <= 6:
        return "/".join(f"{x:.0f}" for x in values)
    return f"{values[0]:.0f} ... {values[-1]:.0f} (max {max(values):.0f}, {len(values)} rebuilds)"


def table(results: list[dict[str, float]]) -> str:
    head = (
        "| hashes | fill (in SQLite) | DB | open (build) | rebuild_index | svc.lookup /s "
        "(batches of 1000) | bare index /s | per CPU-second: svc / index | queries matched | "
        "RSS before open | RSS open | "
        "RSS after each further rebuild | peak RSS |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['n']:,} | {r['fill_s']:.1f} s | {r['db_mb']:.0f} MB | {r['open_s']:.1f} s | "
        f"{r['rebuild_s']:.1f} s | {r['lookups_per_s']:,.0f} | {r['index_per_s']:,.0f} | "
        f"{r['lookups_per_cpu_s']:,.0f} / {r['index_per_cpu_s']:,.0f} | "
        f"{r['matched']:.0%} | {r['rss_base_mb']:.0f} MB | {r['rss_open_mb']:.0f} MB | "
        f"{r['rss_rebuilds']} MB | {r['rss_peak_mb']:.0f} MB |"
        for r in results
    ]
    return head + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, action="append", help="hashes (repeatable)")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--rebuilds", type=int, default=3, help="further rebuilds (RSS)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--pg", help="a PostgreSQL server URL: a fresh database on it")
    args = parser.parse_args()
    results = []
    for n in args.n or [100_000]:
        results.append(run(n, args.queries, args.seed, args.rebuilds, args.pg))
        print(table(results[-1:]), flush=True)
    text = table(results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
