#!/usr/bin/env python3
"""Scale-out benchmark (issue 17): the local process pool against Ray, side by side, in one run.

Part ``scan``: images/s of the real CLI on one seeded corpus of harmless 1-12 MP photos (the
``scan_throughput.py`` generator, cached in ``bench/corpus/``), for 1, 2 and 4 workers:

- ``pool``: ``consentry scan DIR --case TMP --executor local --workers N --no-links -q --json``
  (one worker runs inline, more in worker processes);
- ``ray cold``: ``--executor ray --workers N`` without an address: the CLI starts its own local
  Ray instance, so Ray's start-up is inside the figure (as a user running it once sees it);
- ``ray warm``: ``--executor ray --ray-address ADDR --workers N`` against a Ray instance started
  beforehand by a helper process (``tests/ray_support.py``: ``local_ray(N)`` for 1 and 2,
  ``ray_cluster(4, 1)``, four simulated nodes of one CPU each, for 4): the steady state. Ray's
  start-up is measured on its own, in the helper.

Each configuration runs twice: hash-only (``--only ''``: hashes, type, decode, EXIF, PDQ,
thumbnail) and every default per-image analyzer (explicit, faces, provenance). CPU seconds
count every process: the CLI and its workers, and for Ray also the helper's raylets, GCS and
actor processes (per-process utime+stime from /proc, sampled every 0.25 s; a process's last
< 0.25 s before it exits is lost). The Ray overhead per image is (Ray wall - pool wall) x
workers / images, in worker-ms per image, and (Ray CPU - pool CPU) / images in CPU-ms.

Part ``derivation``: ``consentry links`` (the case-level derivation pass) on cases of 1k, 2k,
4k, 8k small pictures, built by a hash-only ``scan --no-links``. Each set is a prefix of one
seeded corpus of 320-800 px JPEGs: generated pictures (random gradients and shapes, grain:
mutually unrelated), and every 40 pictures one pair of crops of a shared photo from
``../shared/data`` (one related pair per 40 pictures). The phases (features, shortlist,
verify, profiles, links, render) and counts come from the pass's ``derivations_linked`` audit
event. A set whose time, extrapolated from the smaller ones, would not fit in
``--derivation-budget`` is not run; the extrapolation is printed as such. At
``--derivation-compare`` images the pass also runs on Ray (warm, ``local_ray(2)``) on a copy of
the same case.

Part ``driver`` (not in the default ``--parts``): the CPU per image of the one process that
writes the store (the CLI, with one Ray actor started beforehand, at ``--driver-sizes`` 30 and
300 photos so that its start-up cancels), on SQLite or, with ``--db URL``, on PostgreSQL: a
fresh database per run, its size from ``pg_database_size``, and its server's CPU when
``--db-pid`` names the postmaster.

Output: markdown tables on stdout and in ``bench/out/scale_out-<date>.md``, with the machine,
its load averages before and after every run, and the store's size per image.

Examples:

    python bench/scale_out.py                                   # both parts, defaults
        # here (2 cores): the scan part took 17 min at --n 300 at load 5-14 (about 11 min
        # expected at the default 200), the derivation part 8 min at load 1-3.6
    python bench/scale_out.py --parts scan --n 300 --workers 1,2,4
    python bench/scale_out.py --parts scan --configs hash --n 100   # a quick look
    python bench/scale_out.py --parts derivation --derivation-sizes 1000,2000,4000,8000 \\
        --derivation-compare 2000 --derivation-budget 1000   # Ray's shortlist search from 2k
    python bench/scale_out.py --parts derivation --derivation-sizes 500 --derivation-compare 500
    python bench/scale_out.py --parts driver --n 300 --configs hash,all
    python bench/scale_out.py --parts driver --n 300 \\
        --db 'postgresql+psycopg://postgres@/postgres?host=/tmp/pg&port=55417' --db-pid 12345
    python bench/scale_out.py --generate-only                   # build (or check) the corpora

Ray is never left running: the helper shuts its instance down when told, and processes of its
tree still alive after that are killed by their ids (never ``ray stop``, which would stop other
users' clusters). All Ray processes of a run use their own ``RAY_TMPDIR``, so a run neither
joins nor disturbs another Ray instance on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import scan_throughput as st  # noqa: E402

CONFIGS = {"hash": ["--only", ""], "all": []}
CONFIG_LABEL = {"hash": "hash-only (--only '')", "all": "all per-image analyzers"}
DERIV_GENERATOR_VERSION = "1"
PAIR_EVERY = 40  # one pair of crops of a shared photo per PAIR_EVERY pictures
CLK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# CPU of whole process trees (Linux /proc)


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(ppid, start time, CPU seconds of the process itself) or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[1].split()
    return int(rest[1]), int(rest[19]), (int(rest[11]) + int(rest[12])) / CLK


def _hwm_bytes(pid: int) -> int:
    return st._status_kb(pid, "VmHWM:") * 1024


class TreeCPU(threading.Thread):
    """Every process under ``roots`` (followed after it is re-parented): CPU seconds used since
    ``mark()``, and the peak RSS (VmHWM) of the first root."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.roots: set[int] = set()
        self.known: dict[tuple[int, int], float] = {}  # (pid, start) -> last CPU seconds
        self.base: dict[tuple[int, int], float] = {}
        self.main_pid = 0
        self.main_hwm = 0
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def add_root(self, pid: int, main: bool = False) -> None:
        with self.lock:
            self.roots.add(pid)
            if main:
                self.main_pid, self.main_hwm = pid, 0
        self.sample()

    def remove_root(self, pid: int) -> None:
        with self.lock:
            self.roots.discard(pid)

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self.stop_event.set()
        self.join()

    def sample(self) -> None:
        stats: dict[int, tuple[int, int, float]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (s := _stat(int(entry))) is not None:
                stats[int(entry)] = s
        with self.lock:
            tracked = {pid for pid, start in self.known if stats.get(pid, (0, -1))[1] == start}
            tracked |= {r for r in self.roots if r in stats}
            children: dict[int, list[int]] = {}
            for pid, (ppid, _, _) in stats.items():
                children.setdefault(ppid, []).append(pid)
            todo = list(tracked)
            while todo:
                pid = todo.pop()
                for child in children.get(pid, []):
                    if child not in tracked:
                        tracked.add(child)
                        todo.append(child)
            for pid in tracked:
                _, start, cpu = stats[pid]
                self.known[(pid, start)] = cpu
            if self.main_pid in stats:
                self.main_hwm = max(self.main_hwm, _hwm_bytes(self.main_pid))

    def mark(self) -> None:
        self.sample()
        with self.lock:
            self.base = dict(self.known)

    def cpu_since_mark(self) -> float:
        self.sample()
        with self.lock:
            return sum(cpu - self.base.get(key, 0.0) for key, cpu in self.known.items())

    def live_pids(self) -> list[int]:
        self.sample()
        with self.lock:
            return [pid for pid, start in self.known if (_stat(pid) or (0, -1, 0))[1] == start]


# ---------------------------------------------------------------------------------------------
# Ray, in a helper process of our own


def helper_main(kind: str, n: int) -> None:
    """Body of ``--_ray-helper``: start Ray, print its address, wait for a line, stop it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from ray_support import local_ray, ray_cluster

    started = time.monotonic()
    block = local_ray(n) if kind == "local" else ray_cluster(n, 1)
    with block:
        import ray

        ready = {
            "address": ray.get_runtime_context().gcs_address,
            "start_s": round(time.monotonic() - started, 3),
            "cpus": ray.cluster_resources().get("CPU", 0),
            "nodes": len([x for x in ray.nodes() if x.get("Alive")]),
        }
        print(json.dumps(ready), flush=True)
        sys.stdin.readline()
    print(json.dumps({"stopped": True}), flush=True)


@dataclass
class RayInstance:
    kind: str
    n: int
    address: str
    start_s: float
    start_cpu_s: float
    nodes: int
    cpus: float
    pid: int


@contextmanager
def ray_helper(kind: str, n: int, env: dict[str, str], tracker: TreeCPU) -> Iterator[RayInstance]:
    tracker.mark()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--_ray-helper", kind, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    tracker.add_root(proc.pid)
    pids: list[int] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the Ray helper ({kind}, {n}) did not start (exit {proc.wait()})")
        info = json.loads(line)
        inst = RayInstance(
            kind,
            n,
            info["address"],
            info["start_s"],
            tracker.cpu_since_mark(),
            info["nodes"],
            info["cpus"],
            proc.pid,
        )
        yield inst
    finally:
        pids = [p for p in tracker.live_pids() if p != os.getpid()]
        try:
            if proc.stdin is not None:
                proc.stdin.write("\n")
                proc.stdin.flush()
                proc.stdin.close()
            proc.wait(timeout=90)
        except (OSError, subprocess.TimeoutExpired):
            pass
        tracker.remove_root(proc.pid)
        time.sleep(1.0)
        leftover = [p for p in pids if _alive(p)]
        for pid in leftover:  # our own helper's processes only, by id
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _cmd(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    return os.path.basename(argv[0].decode(errors="replace"))[:40] if argv else "?"


def _alive(pid: int) -> bool:
    s = _stat(pid)
    return s is not None and Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def ray_env(tmp_root: Path) -> dict[str, str]:
    """The environment of every Ray process of this run: its own temp dir, no usage stats."""
    short = Path(tempfile.mkdtemp(prefix="so-ray-", dir="/tmp"))  # socket paths stay short
    return {
        **os.environ,
        "RAY_TMPDIR": str(short),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_ADDRESS": "",
        # Ray 2.60 turns token authentication on for a new local instance started by
        # ray.init(); a second driver joining it by address needs the mode set as well (the
        # token is ~/.ray/auth_token). A production cluster should run with it too.
        "RAY_AUTH_MODE": "token",
    }


# ---------------------------------------------------------------------------------------------
# one measured CLI run


@dataclass
class CliRun:
    label: str
    images: int
    wall_s: float
    cpu_s: float  # every process: the CLI's tree, and a Ray helper's tree when given
    cli_cpu_s: float  # the CLI and the descendants it waited for (wait4)
    rc: int
    stdout: str
    stderr: str
    load_before: str
    load_after: str
    driver_hwm: int = 0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.images / self.wall_s if self.wall_s else 0.0


def run_cli(
    label: str, cmd: Sequence[str], images: int, env: dict[str, str], tracker: TreeCPU, log: Any
) -> CliRun:
    log(f"  $ {' '.join(_q(c) for c in cmd)}")
    load_before = st._loadavg()
    tracker.mark()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, env=env)
        tracker.add_root(proc.pid, main=True)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        tracker.remove_root(proc.pid)
        cpu = tracker.cpu_since_mark()
        out.seek(0)
        err.seek(0)
        run = CliRun(
            label,
            images,
            wall,
            cpu,
            ru.ru_utime + ru.ru_stime,
            os.waitstatus_to_exitcode(status),
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            load_before,
            st._loadavg(),
            tracker.main_hwm,
        )
    # the sampler misses a process's last tick; the CLI's own tree is exact from wait4
    run.cpu_s = max(run.cpu_s, run.cli_cpu_s)
    if run.rc != 0:
        log(f"    FAILED (exit {run.rc}): {run.stderr[-1500:]}")
    else:
        try:
            run.summary = json.loads(run.stdout)
        except json.JSONDecodeError:
            run.summary = {}
    log(
        f"    {run.wall_s:.1f} s wall, {run.rate:.2f} images/s, CPU {run.cpu_s:.1f} s "
        f"(CLI tree {run.cli_cpu_s:.1f} s), load {load_before} -> {run.load_after}"
    )
    return run


def _q(s: str) -> str:
    return s if s and all(c.isalnum() or c in "-_./:=," for c in s) else repr(s)


def case_sizes(case_dir: Path) -> tuple[int, int]:
    """(case.sqlite bytes incl. WAL, bytes of everything else in the case folder)."""
    db = sum(p.stat().st_size for p in case_dir.glob("case.sqlite*") if p.is_file())
    rest = sum(
        p.stat().st_size
        for p in case_dir.rglob("*")
        if p.is_file() and not p.name.startswith("case.sqlite")
    )
    return db, rest


def scan_cmd(
    folder: Path, case: Path, workers: int, executor: list[str], extra: list[str]
) -> list[str]:
    return [
        *st.consentry_cmd(),
        "scan",
        str(folder),
        "--case",
        str(case),
        *executor,
        "--workers",
        str(workers),
        "--no-links",
        *extra,
        "-q",
        "--json",
    ]


def audit_event(case_dir: Path, action: str) -> dict[str, Any] | None:
    conn = sqlite3.connect(f"file:{case_dir / 'case.sqlite'}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT payload FROM audit_events WHERE action = ? ORDER BY seq DESC LIMIT 1",
            (action,),
        ).fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else None


# ---------------------------------------------------------------------------------------------
# part 1: scan throughput, pool vs Ray


@dataclass
class ScanRow:
    config: str
    workers: int
    mode: str  # pool, ray cold, ray warm
    run: CliRun
    db_bytes: int = 0
    other_bytes: int = 0
    ok: str = ""


def part_scan(args: argparse.Namespace, log: Any, env: dict[str, str], tracker: TreeCPU) -> dict:
    prepared = st.prepare_corpus(args.n, args.seed, 2, args.cache_dir.resolve(), log)
    if prepared is None:
        return {}
    folder, images, _ = prepared
    warm_s, warm_bytes = st.warm_page_cache(images)
    mean_mp = sum(i.mp for i in images) / len(images)
    total_mb = sum(i.size for i in images) / 1e6
    log(
        f"corpus: {len(images)} photos, {total_mb:.0f} MB, mean {mean_mp:.1f} MP (1-12 MP JPEG); "
        f"page cache warmed in {warm_s:.1f} s"
    )
    work = Path(tempfile.mkdtemp(prefix="scale-out-scan-"))
    rows: list[ScanRow] = []
    instances: list[RayInstance] = []
    try:
        # warm-up, not timed: .pyc files, the venv's and Ray's imports in the page cache
        small = work / "warmup"
        small.mkdir()
        for img in images[:10]:
            os.link(img.path, small / img.path.name)
        log("warm-up (not timed): 10 photos, pool and Ray")
        for i, executor in enumerate((["--executor", "local"], ["--executor", "ray"])):
            run_cli(
                "warm-up",
                scan_cmd(small, work / f"warm-case-{i}", 2, executor, CONFIGS["hash"]),
                10,
                env,
                tracker,
                log,
            )

        def one(config: str, w: int, mode: str, executor: list[str]) -> None:
            case = work / f"case-{config}-{w}-{mode.replace(' ', '-')}"
            log(f"[{CONFIG_LABEL[config]}] {w} worker(s), {mode}")
            run = run_cli(
                mode,
                scan_cmd(folder, case, w, executor, CONFIGS[config]),
                len(images),
                env,
                tracker,
                log,
            )
            row = ScanRow(config, w, mode, run)
            if run.rc == 0:
                row.db_bytes, row.other_bytes = case_sizes(case)
                s = run.summary
                errors = s.get("errors", {}).get("total", "?")
                row.ok = (
                    "ok"
                    if s.get("images") == len(images) and errors == 0
                    else f"{s.get('images')} images, {errors} errors"
                )
            else:
                row.ok = f"failed (exit {run.rc})"
            rows.append(row)
            shutil.rmtree(case, ignore_errors=True)

        for w in args.workers:
            for config in args.configs:
                one(config, w, "pool", ["--executor", "local"])
                if w <= 2 and not args.no_cold:
                    one(config, w, "ray cold", ["--executor", "ray"])
            kind = "local" if w <= 2 else "cluster"
            log(f"starting Ray for the warm runs: {kind} with {w} CPU(s)")
            with ray_helper(kind, w, env, tracker) as inst:
                log(
                    f"  Ray up in {inst.start_s:.1f} s ({inst.start_cpu_s:.1f} CPU-s): "
                    f"{inst.nodes} node(s), {inst.cpus:g} CPUs, address {inst.address}"
                )
                instances.append(inst)
                for config in args.configs:
                    one(config, w, "ray warm", ["--executor", "ray", "--ray-address", inst.address])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report_scan(rows, instances, len(images), log)
    return {"rows": rows, "instances": instances, "images": len(images), "mean_mp": mean_mp}


def report_scan(rows: list[ScanRow], instances: list[RayInstance], n: int, log: Any) -> None:
    log("")
    log(f"### Scan throughput, {n} photos, `--no-links`")
    log("")
    log(
        "| analyzers | workers | executor | wall s | images/s | CPU s (all processes) | "
        "CPU ms/image | scan's own elapsed_s | load 1/5/15 before -> after | result |"
    )
    log("|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        el = r.run.summary.get("elapsed_s", "")
        log(
            f"| {r.config} | {r.workers} | {r.mode} | {r.run.wall_s:.1f} | {r.run.rate:.2f} | "
            f"{r.run.cpu_s:.1f} | {1000 * r.run.cpu_s / n:.0f} | {el} | "
            f"{r.run.load_before} -> {r.run.load_after} | {r.ok} |"
        )
    log("")
    log("Ray's overhead against the pool (same analyzers, same number of workers):")
    log("")
    log(
        "| analyzers | workers | pool wall s | Ray warm wall s | Ray warm / pool (images/s) | "
        "overhead worker-ms/image | overhead CPU-ms/image | Ray cold wall s | cold - warm s |"
    )
    log("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    by = {(r.config, r.workers, r.mode): r for r in rows if r.run.rc == 0}
    for (config, w, mode), pool in sorted(by.items()):
        if mode != "pool":
            continue
        warm = by.get((config, w, "ray warm"))
        cold = by.get((config, w, "ray cold"))
        if warm is None:
            continue
        over_wall = (warm.run.wall_s - pool.run.wall_s) * w / n * 1000
        over_cpu = (warm.run.cpu_s - pool.run.cpu_s) / n * 1000
        log(
            f"| {config} | {w} | {pool.run.wall_s:.1f} | {warm.run.wall_s:.1f} | "
            f"{warm.run.rate / pool.run.rate:.2f} | {over_wall:+.0f} | {over_cpu:+.0f} | "
            f"{f'{cold.run.wall_s:.1f}' if cold else '-'} | "
            f"{f'{cold.run.wall_s - warm.run.wall_s:+.1f}' if cold else '-'} |"
        )
    log("")
    log("Ray start-up, measured alone in the helper (ray.init / Cluster until all nodes are up):")
    log("")
    log("| instance | nodes | CPUs | start-up wall s | start-up CPU s |")
    log("|---|---:|---:|---:|---:|")
    for inst in instances:
        what = f"local_ray({inst.n})" if inst.kind == "local" else f"ray_cluster({inst.n}, 1)"
        log(
            f"| {what} | {inst.nodes} | {inst.cpus:g} | {inst.start_s:.1f} | "
            f"{inst.start_cpu_s:.1f} |"
        )
    log("")
    log("Store size per image (the case folder after the scan):")
    log("")
    log("| analyzers | case.sqlite bytes/image | thumbnails etc. bytes/image | from run |")
    log("|---|---:|---:|---|")
    seen = set()
    for r in rows:
        if r.run.rc == 0 and r.config not in seen and r.db_bytes:
            seen.add(r.config)
            log(
                f"| {r.config} | {r.db_bytes / n:,.0f} | {r.other_bytes / n:,.0f} | "
                f"{r.workers} worker(s), {r.mode} |"
            )


# ---------------------------------------------------------------------------------------------
# part "driver": what the one process that writes the store costs per image


def _pg_conninfo(url: str, dbname: str | None = None) -> str:
    """A libpq URL from an SQLAlchemy one (``postgresql+psycopg://...``), database replaced."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    path = f"/{dbname}" if dbname is not None else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _pg_admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _pg_size(url: str, dbname: str) -> int:
    import psycopg

    with psycopg.connect(_pg_conninfo(url, dbname)) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def part_driver(args: argparse.Namespace, log: Any, env: dict[str, str], tracker: TreeCPU) -> dict:
    """The driver's CPU per image (Ray warm, one actor: the actor's work is in the helper's
    tree, the CLI's own CPU is the driver's), at two sizes so that its fixed start-up cancels;
    with ``--db URL`` (PostgreSQL) also the database server's CPU (``--db-pid``: the
    postmaster, whose tree is sampled) and the database's size per image."""
    prepared = st.prepare_corpus(args.n, args.seed, 2, args.cache_dir.resolve(), log)
    if prepared is None:
        return {}
    _, images, _ = prepared
    st.warm_page_cache(images)
    sizes = sorted(set(min(k, len(images)) for k in args.driver_sizes))
    work = Path(tempfile.mkdtemp(prefix="scale-out-driver-"))
    db_tracker = TreeCPU()  # its own thread: the server's backends live only while a run does
    if args.db_pid:
        db_tracker.add_root(args.db_pid)
        db_tracker.start()
    rows: list[dict[str, Any]] = []
    try:
        folders = {}
        for k in sizes:
            folders[k] = work / f"photos-{k}"
            folders[k].mkdir()
            for img in images[:k]:
                os.link(img.path, folders[k] / img.path.name)
        with ray_helper("local", 1, env, tracker) as inst:
            log(f"Ray (local_ray(1)) up in {inst.start_s:.1f} s")
            for config in args.configs:
                for k in sizes:
                    case = work / f"case-{config}-{k}"
                    extra = list(CONFIGS[config])
                    dbname = f"scale_out_{config}_{k}_{os.getpid()}"
                    if args.db:
                        _pg_admin(args.db, f'CREATE DATABASE "{dbname}"')
                        url = _pg_conninfo(args.db, dbname).replace(
                            "postgresql://", "postgresql+psycopg://", 1
                        )
                        extra += ["--db", url]
                    db_tracker.mark()
                    log(f"[{CONFIG_LABEL[config]}] {k} photos, Ray warm, 1 worker")
                    run = run_cli(
                        "driver",
                        scan_cmd(
                            folders[k],
                            case,
                            1,
                            ["--executor", "ray", "--ray-address", inst.address],
                            extra,
                        ),
                        k,
                        env,
                        tracker,
                        log,
                    )
                    db_cpu = db_tracker.cpu_since_mark() if args.db_pid else 0.0
                    sqlite_bytes, other = case_sizes(case) if run.rc == 0 else (0, 0)
                    store = _pg_size(args.db, dbname) if args.db and run.rc == 0 else sqlite_bytes
                    if args.db:
                        _pg_admin(args.db, f'DROP DATABASE "{dbname}"')
                    rows.append(
                        {
                            "config": config,
                            "n": k,
                            "run": run,
                            "db_cpu": db_cpu,
                            "store": store,
                            "other": other,
                        }
                    )
                    shutil.rmtree(case, ignore_errors=True)
    finally:
        if db_tracker.is_alive():
            db_tracker.stop()
        shutil.rmtree(work, ignore_errors=True)
    kind = "PostgreSQL (--db)" if args.db else "SQLite (case.sqlite)"
    log("")
    log(f"### The driver (the one process that writes the store), store: {kind}")
    log("")
    log(
        "| analyzers | images | wall s | driver CPU s (the CLI process) | all processes CPU s | "
        "DB server CPU s | store bytes/image | thumbnails etc. bytes/image |"
    )
    log("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        run = r["run"]
        db_cpu = f"{r['db_cpu']:.2f}" if args.db_pid else "-"
        log(
            f"| {r['config']} | {r['n']} | {run.wall_s:.1f} | {run.cli_cpu_s:.2f} | "
            f"{run.cpu_s:.1f} | {db_cpu} | "
            f"{r['store'] / r['n']:,.0f} | {r['other'] / r['n']:,.0f} |"
        )
    log("")
    for config in args.configs:
        mine = [r for r in rows if r["config"] == config and r["run"].rc == 0]
        if len(mine) >= 2:
            lo, hi = mine[0], mine[-1]
            dn = hi["n"] - lo["n"]
            drv = (hi["run"].cli_cpu_s - lo["run"].cli_cpu_s) / dn * 1000
            dbc = (hi["db_cpu"] - lo["db_cpu"]) / dn * 1000
            size = (hi["store"] - lo["store"]) / dn
            log(
                f"- {config}: marginal driver CPU {drv:.1f} ms/image (n={lo['n']} -> {hi['n']})"
                + (f", DB server {dbc:.1f} CPU-ms/image" if args.db_pid else "")
                + f", store {size:,.0f} bytes/image"
            )
    return {"rows": rows}


# ---------------------------------------------------------------------------------------------
# part 2: the derivation pass against the number of images

_PHOTOS: list[str] = []


def _init_deriv(photos: list[str]) -> None:
    global _PHOTOS
    _PHOTOS = photos
    import cv2

    cv2.setNumThreads(1)


def _geometry(rng: Any) -> tuple[int, int]:
    long_ = int(rng.integers(320, 801))
    a, b = st.ASPECTS[int(rng.integers(len(st.ASPECTS)))]
    short = max(16, round(long_ * b / a))
    return (short, long_) if rng.random() < 0.35 else (long_, short)


def deriv_one(job: tuple[int, int, str]) -> dict[str, Any]:
    """Picture ``index``: a generated scene, or (two per PAIR_EVERY) a crop of a shared photo."""
    import cv2
    import numpy as np
    from PIL import Image

    index, seed, out_dir = job
    rng = np.random.default_rng([seed, 17, index])
    w, h = _geometry(rng)
    kind = "generated"
    if index % PAIR_EVERY in (0, 1):
        kind = "photo-crop"
        photo = _PHOTOS[(index // PAIR_EVERY) % len(_PHOTOS)]
        with Image.open(photo) as im:
            src = np.asarray(im.convert("RGB"))
        sh, sw = src.shape[:2]
        scale = math.sqrt(rng.uniform(0.55, 1.0))
        cw, ch = max(32, int(sw * scale)), max(32, int(sh * scale))
        x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
        crop = src[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        f = max(w, h) / max(cw, ch)
        arr = cv2.resize(np.ascontiguousarray(crop), (max(16, int(cw * f)), max(16, int(ch * f))))
        arr = arr.astype(np.float32) * rng.uniform(0.92, 1.08, size=3).astype(np.float32)
    else:
        c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(w, h)
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        arr = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
        arr = np.ascontiguousarray(arr.astype(np.uint8))
        for _ in range(int(rng.integers(8, 26))):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            thick = -1 if rng.random() < 0.6 else int(rng.integers(2, 7))
            shape = rng.random()
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            size = int(rng.integers(8, max(9, max(w, h) // 3)))
            if shape < 0.35:
                axes = (size, int(rng.integers(4, size + 1)))
                ang = float(rng.uniform(0, 180))
                cv2.ellipse(arr, (cx, cy), axes, ang, 0, 360, colour, thick)
            elif shape < 0.65:
                cv2.rectangle(arr, (cx, cy), (cx + size, cy + int(rng.integers(4, size + 1))),
                              colour, thick)  # fmt: skip
            else:
                pts = np.array([cx, cy]) + rng.integers(
                    -size, size + 1, (int(rng.integers(3, 7)), 2)
                )
                cv2.fillPoly(arr, [pts.astype(np.int32)], colour)
        arr = cv2.GaussianBlur(arr, (0, 0), float(rng.uniform(0.6, 1.4))).astype(np.float32)
    sigma = float(rng.uniform(2.0, 5.0))
    arr = arr + rng.standard_normal(arr.shape[:2] + (1,), dtype=np.float32) * sigma
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(rng.integers(78, 96)))
    name = f"pic_{index:05d}.jpg"
    out = Path(out_dir) / name
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out)
    return {
        "name": name,
        "kind": kind,
        "bytes": len(buf.getvalue()),
        "w": img.width,
        "h": img.height,
    }


def derivation_corpus(
    n: int, seed: int, cache_root: Path, log: Any
) -> tuple[Path, list[dict]] | None:
    import hashlib

    import derivation_corpus as dc

    photos = [str(p) for p in dc.colour_photos()]
    if not photos:
        log("SKIP derivation: no colour photos under ../shared/data")
        return None
    from PIL import __version__ as pil_version

    key = hashlib.sha256(
        json.dumps(
            [DERIV_GENERATOR_VERSION, n, seed, pil_version, [Path(p).name for p in photos]]
        ).encode()
    ).hexdigest()[:12]
    base = cache_root / f"scale_out-deriv-n{n}-s{seed}-{key}"
    images_dir, manifest = base / "images", base / "manifest.json"
    if manifest.exists():
        metas = json.loads(manifest.read_text())["images"]
        if all((images_dir / m["name"]).is_file() for m in metas):
            log(f"derivation corpus: reusing {base} ({len(metas)} pictures)")
            return images_dir, metas
    images_dir.mkdir(parents=True, exist_ok=True)
    log(f"derivation corpus: generating {n} pictures into {base} ({len(photos)} shared photos)")
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(
        2, initializer=_init_deriv, initargs=(photos,), maxtasksperchild=500
    ) as pool:
        metas = list(
            pool.imap(deriv_one, [(i, seed, str(images_dir)) for i in range(n)], chunksize=16)
        )
    gen_s = time.monotonic() - started
    manifest.write_text(json.dumps({"n": n, "seed": seed, "generation_s": gen_s, "images": metas}))
    log(f"  generated in {gen_s:.0f} s")
    return images_dir, metas


@dataclass
class DerivRow:
    n: int
    executor: str
    scan: CliRun | None
    links: CliRun
    audit: dict[str, Any]
    db_bytes: int = 0
    other_bytes: int = 0
    scan_db_bytes: int = 0  # case.sqlite after the hash-only scan, before the pass
    scan_other_bytes: int = 0


def links_cmd(case: Path, workers: int, executor: list[str]) -> list[str]:
    return [
        *st.consentry_cmd(),
        "links",
        "--case",
        str(case),
        *executor,
        "--workers",
        str(workers),
        "--json",
    ]


def part_derivation(
    args: argparse.Namespace, log: Any, env: dict[str, str], tracker: TreeCPU
) -> dict:
    """One case grows by a hash-only scan of each next slice of the corpus; at every size a copy
    of it gets the derivation pass from scratch (no features yet), so each size's pass is timed
    whole while the scans add up to the largest size once."""
    sizes = sorted(args.derivation_sizes)
    prepared = derivation_corpus(max(sizes), args.seed, args.cache_dir.resolve(), log)
    if prepared is None:
        return {}
    images_dir, metas = prepared
    work = Path(tempfile.mkdtemp(prefix="scale-out-deriv-"))
    rows: list[DerivRow] = []
    skipped: list[tuple[int, float]] = []
    budget_end = time.monotonic() + args.derivation_budget
    base = work / "case"
    have = 0
    try:
        for n in sizes:
            estimate = _estimate(rows, n, have)
            left = budget_end - time.monotonic()
            if estimate is not None and estimate > left:
                log(f"derivation n={n}: NOT RUN, estimated {estimate:.0f} s > {left:.0f} s left")
                skipped.append((n, estimate))
                continue
            folder = work / f"photos-{have}-{n}"
            folder.mkdir()
            for m in metas[have:n]:
                os.link(images_dir / m["name"], folder / m["name"])
            log(
                f"derivation n={n}: hash-only scan of pictures {have}-{n} into the case, then "
                "consentry links on a copy of it (pool, 2 workers)"
            )
            scan = run_cli(
                "scan",
                scan_cmd(folder, base, 2, ["--executor", "local"], CONFIGS["hash"]),
                n - have,
                env,
                tracker,
                log,
            )
            if scan.rc != 0:
                break
            have = n
            scan_sizes = case_sizes(base)
            case = work / f"case-{n}"
            shutil.copytree(base, case)
            ray_case = None
            if n == args.derivation_compare:
                ray_case = work / f"case-{n}-ray"
                shutil.copytree(base, ray_case)
            links = run_cli(
                "links", links_cmd(case, 2, ["--executor", "local"]), n, env, tracker, log
            )
            row = DerivRow(n, "pool", scan, links, audit_event(case, "derivations_linked") or {})
            row.db_bytes, row.other_bytes = case_sizes(case)
            row.scan_db_bytes, row.scan_other_bytes = scan_sizes
            rows.append(row)
            _log_phases(row, log)
            shutil.rmtree(case, ignore_errors=True)
            if ray_case is not None:
                log(f"derivation n={n}: the same pass on Ray (local_ray(2), warm)")
                with ray_helper("local", 2, env, tracker) as inst:
                    log(f"  Ray up in {inst.start_s:.1f} s")
                    rl = run_cli(
                        "links",
                        links_cmd(
                            ray_case, 2, ["--executor", "ray", "--ray-address", inst.address]
                        ),
                        n,
                        env,
                        tracker,
                        log,
                    )
                rrow = DerivRow(
                    n, "ray warm", None, rl, audit_event(ray_case, "derivations_linked") or {}
                )
                rows.append(rrow)
                _log_phases(rrow, log)
                shutil.rmtree(ray_case, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    pairs = sum(1 for m in metas if m["kind"] == "photo-crop") // 2
    report_derivation(rows, skipped, metas, pairs, log)
    return {"rows": rows, "skipped": skipped}


def _log_phases(row: DerivRow, log: Any) -> None:
    a = row.audit
    log(
        f"    pass {a.get('elapsed_s')} s, phases {a.get('phases_s')}, candidate pairs "
        f"{a.get('candidate_pairs')}, related {a.get('related_pairs')}, links {a.get('links')}"
    )


def _fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """y = a * x^b by least squares in log-log; None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    if var == 0:
        return None
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / var
    return math.exp(my - b * mx), b


def _estimate(rows: Sequence[DerivRow], n: int, have: int) -> float | None:
    """Seconds the size n would take: the scan of the n - have new pictures at the last scan's
    rate, and the pass from the growth of the passes so far (at least linear)."""
    pool = [r for r in rows if r.executor == "pool" and r.scan is not None]
    if not pool:
        return None
    last = pool[-1]
    assert last.scan is not None
    scan_s = last.scan.wall_s / max(1, last.scan.images) * (n - have)
    linear = last.links.wall_s * n / last.n  # growth slower than linear is not counted on
    fit = _fit([r.n for r in pool], [r.links.wall_s for r in pool])
    if fit is None or fit[1] <= 1.0:
        return scan_s + linear
    a, b = fit
    return scan_s + max(linear, a * n**b)


PHASES = ("features_s", "shortlist_s", "verify_s", "profiles_s", "links_s", "render_s")


def report_derivation(
    rows: list[DerivRow], skipped: list[tuple[int, float]], metas: list[dict], pairs: int, log: Any
) -> None:
    log("")
    log("### The derivation pass against the number of images")
    log("")
    log(
        f"Corpus: prefixes of {len(metas)} seeded 320-800 px JPEGs, generated pictures plus one "
        f"pair of crops of a shared photo per {PAIR_EVERY} ({pairs} pairs in all); cases built "
        "by hash-only `scan --no-links` runs that add each next slice to one case (no faces: the "
        "pass's second shortlist round, outside faces, has nothing to do); at each size a copy "
        "of that case gets `consentry links --workers 2` from scratch (no features yet)."
    )
    log("")
    log(
        "| images | executor | scan of the added pictures, wall s | links wall s | pass s | "
        + " | ".join(p.removesuffix("_s") for p in PHASES)
        + " | candidate pairs | related | links | CPU s (all) | driver peak RSS | "
        "load before -> after |"
    )
    log("|---:|---|---:|---:|---:|" + "---:|" * len(PHASES) + "---:|---:|---:|---:|---:|---|")
    for r in rows:
        a, ph = r.audit, r.audit.get("phases_s", {})
        log(
            f"| {r.n} | {r.executor} | {f'{r.scan.wall_s:.1f}' if r.scan else '-'} | "
            f"{r.links.wall_s:.1f} | {a.get('elapsed_s', '-')} | "
            + " | ".join(f"{ph.get(p, '-')}" for p in PHASES)
            + f" | {a.get('candidate_pairs', '-')} | {a.get('related_pairs', '-')} | "
            f"{a.get('links', '-')} | {r.links.cpu_s:.1f} | "
            f"{r.links.driver_hwm / 2**20:,.0f} MiB | "
            f"{r.links.load_before} -> {r.links.load_after} |"
        )
    log("")
    for n, est in skipped:
        log(f"n={n}: not run, its scan + links estimated at {est:.0f} s (an extrapolation).")
    pool = [r for r in rows if r.executor == "pool"]
    log("")
    if len(pool) >= 2:
        log("Growth (y = a * n^b fitted over the pool rows; b = 1 is linear):")
        log("")
        log(
            f"| what | b | at n={pool[-1].n} (measured) | per image | 100k (extrapolation) | "
            "1M (extrapolation) |"
        )
        log("|---|---:|---:|---:|---:|---:|")
        xs = [r.n for r in pool]
        series: list[tuple[str, list[float]]] = [
            ("pass, wall s", [float(r.audit.get("elapsed_s") or 0) for r in pool]),
            *[
                (
                    f"{p.removesuffix('_s')}, wall s",
                    [float(r.audit.get("phases_s", {}).get(p) or 0) for r in pool],
                )
                for p in ("features_s", "shortlist_s", "verify_s")
            ],
            ("candidate pairs", [float(r.audit.get("candidate_pairs") or 0) for r in pool]),
            ("driver peak RSS, MiB", [r.links.driver_hwm / 2**20 for r in pool]),
            ("case.sqlite MB", [r.db_bytes / 1e6 for r in pool]),
        ]
        for name, ys in series:
            fit = _fit(xs, ys)
            if fit is None:
                log(f"| {name} | - | - | - | - | - |")
                continue
            a, b = fit
            log(
                f"| {name} | {b:.2f} | {ys[-1]:,.1f} | {ys[-1] / xs[-1]:,.4g} | "
                f"{a * 1e5**b:,.0f} | {a * 1e6**b:,.0f} |"
            )
    if pool:
        log("")
        log("Store size (SQLite case.sqlite incl. WAL; other = thumbnails, renders):")
        log("")
        log(
            "| images | after scan: sqlite bytes/image | other bytes/image | after the pass: "
            "sqlite bytes/image | other bytes/image |"
        )
        log("|---:|---:|---:|---:|---:|")
        for r in pool:
            log(
                f"| {r.n} | {r.scan_db_bytes / r.n:,.0f} | {r.scan_other_bytes / r.n:,.0f} | "
                f"{r.db_bytes / r.n:,.0f} | {r.other_bytes / r.n:,.0f} |"
            )
        if len(pool) >= 2:
            lo, hi = pool[0], pool[-1]
            dn = hi.n - lo.n
            log("")
            after_scan = (hi.scan_db_bytes - lo.scan_db_bytes) / dn
            log(
                f"Marginal, n={lo.n} -> {hi.n}: sqlite {after_scan:,.0f}"
                f" bytes/image after the scan, {(hi.db_bytes - lo.db_bytes) / dn:,.0f} after the "
                "pass (its features and pair checks are cached in the store)."
            )


# ---------------------------------------------------------------------------------------------


def _default_out() -> Path:
    day = dt.date.today().isoformat()
    path = BENCH / "out" / f"scale_out-{day}.md"
    k = 2
    while path.exists():
        path = BENCH / "out" / f"scale_out-{day}-{k}.md"
        k += 1
    return path


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--parts",
        default="scan,derivation",
        help="scan, derivation, driver (the store-writing process's CPU per image) "
        "[scan,derivation]",
    )
    ap.add_argument("--n", type=int, default=200, help="photos of the scan part [200]")
    ap.add_argument("--seed", type=int, default=1, help="corpus seed [1]")
    ap.add_argument("--workers", type=_ints, default=[1, 2, 4], help="worker counts [1,2,4]")
    ap.add_argument(
        "--configs",
        type=lambda s: [c for c in s.split(",") if c],
        default=["hash", "all"],
        help="hash (--only ''), all (every default analyzer) [hash,all]",
    )
    ap.add_argument("--no-cold", action="store_true", help="leave out the 'ray cold' runs")
    ap.add_argument(
        "--derivation-sizes",
        type=_ints,
        default=[1000, 2000, 4000, 8000],
        help="[1000,2000,4000,8000]",
    )
    ap.add_argument(
        "--derivation-compare", type=int, default=1000, help="size also run on Ray; 0: none [1000]"
    )
    ap.add_argument(
        "--derivation-budget",
        type=float,
        default=900,
        help="seconds for the derivation part; a size estimated not to fit is left out [900]",
    )
    ap.add_argument(
        "--driver-sizes", type=_ints, default=[30, 300], help="driver part: photos [30,300]"
    )
    ap.add_argument(
        "--db",
        default=None,
        help="driver part: a PostgreSQL URL (postgresql+psycopg://user@host:port/postgres); "
        "each run gets a fresh database of its own, dropped after",
    )
    ap.add_argument("--db-pid", type=int, default=0, help="driver part: the postmaster's pid")
    ap.add_argument("--cache-dir", type=Path, default=BENCH / "corpus", help="[bench/corpus]")
    ap.add_argument(
        "--out", default=None, help="copy of the output [bench/out/scale_out-<date>.md]; '-': none"
    )
    ap.add_argument("--generate-only", action="store_true", help="build or check the corpora, stop")
    ap.add_argument("--_ray-helper", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._ray_helper:
        helper_main(args._ray_helper[0], int(args._ray_helper[1]))
        return 0
    for c in args.configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r} (known: {', '.join(CONFIGS)})")
    parts = {p for p in args.parts.split(",") if p}
    out_path = None if args.out == "-" else Path(args.out) if args.out else _default_out()
    log = st.Log(out_path)
    try:
        if args.generate_only:
            if "scan" in parts:
                st.prepare_corpus(args.n, args.seed, 2, args.cache_dir.resolve(), log)
            if "derivation" in parts:
                derivation_corpus(
                    max(args.derivation_sizes), args.seed, args.cache_dir.resolve(), log
                )
            return 0
        return _run(args, parts, log)
    finally:
        if out_path is not None:
            log(f"\noutput saved to {out_path}")
        log.close()


def _run(args: argparse.Namespace, parts: set[str], log: Any) -> int:
    import ray

    log("## consentry scale-out benchmark (issue 17): local pool vs Ray")
    log("")
    log("```")
    for line in st.machine_lines(2):
        if not line.startswith("workers:"):
            log(line)
    log(f"ray:      {ray.__version__}")
    log(f"command:  {' '.join(_q(a) for a in sys.argv)}")
    log(f"load before: {st._uptime()}")
    log("```")
    log("")
    log(
        "Note: the machine has 2 cores. 4 workers (pool --workers 4, or ray_cluster(4, 1): four "
        "simulated nodes of one CPU each, all on these 2 cores) measure overhead and "
        "correctness, not speed-up."
    )
    log("")
    tracker = TreeCPU()
    tracker.start()
    env = ray_env(Path(tempfile.gettempdir()))
    started = time.monotonic()
    try:
        if "scan" in parts:
            part_scan(args, log, env, tracker)
        if "derivation" in parts:
            part_derivation(args, log, env, tracker)
        if "driver" in parts:
            part_driver(args, log, env, tracker)
    finally:
        stray = [p for p in tracker.live_pids() if p != os.getpid()]
        for pid in stray:  # processes of this run's own trees only, by id
            with suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if stray:
            names = ", ".join(sorted({_cmd(p) for p in stray}))
            log(
                f"note: {len(stray)} process(es) of this run were alive at the end, killed: {names}"
            )
        tracker.stop()
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    log("")
    log(f"load after: {st._uptime()}; whole run {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
