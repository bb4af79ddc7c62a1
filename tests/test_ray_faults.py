"""Faults during a real scan on Ray (``--executor ray``), on a folder of harmless LFW photos and
a zip, each compared row for row (``store_dump.dump_items``) with a process-pool scan of the
same folder:

- one Ray worker process SIGKILLed mid-scan: the scan completes, each file analysed once, the
  store equal to the pool's (the dead actor's items retried, none lost);
- the whole ``consentry scan --executor ray`` process group SIGKILLed after some results are
  committed, then the same command again: it resumes, and the store equals the pool's;
- a node that really cannot see the evidence: a second Ray node started in its own mount
  namespace (``unshare -m``) where a tmpfs hides the folder holding the evidence. With it the
  only node, the scan stops at once (scan_failed, every file still pending, none blamed); once a
  sighted node joins, the same scan resumes, the blind node is left out (a
  ``workers_unusable`` audit event with the reason) and the store equals the pool's.

The derivation pass is left out (``link=False`` / ``--no-links``): the faults hit the analysis,
and tests/test_ray_equality.py compares the pass on Ray already."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consentry.scan import pipeline
from consentry.services.audit import verify_audit
from consentry.services.case import CaseRef

from .ray_support import local_ray, ray_cluster
from .store_dump import count_rows, differences, dump_items

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces" / "lfw"
N_PHOTOS = 16
N_MEMBERS = 3
KILL_AFTER = 4  # files done when the kill comes
TOTAL = N_PHOTOS + 1 + N_MEMBERS  # the photos, the zip, its members


# -- the evidence and the reference store ---------------------------------------------------------
@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SHARE/evidence: the photos and a zip; SHARE is what the blind node's tmpfs hides."""
    photos = sorted(LFW.glob("*/*.jpg")) if LFW.is_dir() else []
    if len(photos) < N_PHOTOS + N_MEMBERS:
        pytest.skip("../shared/data/faces/lfw (harmless labelled faces) is absent")
    root = tmp_path_factory.mktemp("ray-faults") / "share" / "evidence"
    for path in photos[:N_PHOTOS]:
        target = root / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for path in photos[N_PHOTOS : N_PHOTOS + N_MEMBERS]:
            z.writestr(f"chat/{path.name}", path.read_bytes())
    (root / "export.zip").write_bytes(inner.getvalue())
    return root


def _scan(evidence: Path, case: Path, executor: str, address: str | None = None) -> Any:
    from consentry.services.scan import ScanRequest, scan

    request = ScanRequest(
        CaseRef(case),
        (str(evidence),),
        examiner="Test Examiner",
        workers=2,
        link=False,
        executor=executor,
        ray_address=address,
    )
    return scan(request)


@pytest.fixture(scope="module")
def reference(evidence: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The process pool's store of the folder (the scans on Ray must equal it)."""
    case = tmp_path_factory.mktemp("pool") / "case"
    _scan(evidence, case, "local")
    dump = dump_items(case)
    assert len(dump["locations"]) == TOTAL
    assert all(row[7] == "done" for row in dump["locations"])
    assert dump["faces"] and dump["thumbnails"]  # the models ran: something to compare
    return dump


def _done_count(case: Path) -> int:
    try:
        with sqlite3.connect(f"file:{case / 'case.sqlite'}?mode=ro", uri=True, timeout=0.1) as db:
            return int(
                db.execute("SELECT count(*) FROM locations WHERE state='done'").fetchone()[0]
            )
    except sqlite3.Error:
        return -1  # store not created yet


def _audit(case: Path, action: str) -> list[dict]:
    with sqlite3.connect(case / "case.sqlite") as db:
        rows = db.execute("SELECT payload FROM audit_events WHERE action = ?", (action,))
        return [json.loads(p) for (p,) in rows]


def _problem_codes(dump: dict) -> dict[str, set[str]]:
    """location path -> its problem codes."""
    codes: dict[str, set[str]] = {}
    for path_key, code, *_ in dump["location_problems"]:
        codes.setdefault(repr(path_key), set()).add(code)
    return codes


# -- this machine's processes (only ours are ever killed) ------------------------------------------
def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _descendants(pid: int) -> set[int]:
    kids, found, todo = _children(), set(), [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _our_actor_pids() -> list[int]:
    """The Ray actor processes (``ray::_Actor...``) started under this test process."""
    return sorted(p for p in _descendants(os.getpid()) if _cmdline(p).startswith(b"ray::_Actor"))


def _kill_leftovers(pids: set[int], grace_s: float = 0.0) -> list[str]:
    """SIGKILL those of ``pids`` still alive after ``grace_s`` (processes this test started);
    says which (pid, process group, command line)."""
    deadline = time.monotonic() + grace_s
    while any(_cmdline(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = []
    for pid in sorted(pids):
        command = _cmdline(pid)
        if not command:
            continue
        with contextlib.suppress(OSError):
            alive.append(f"{pid} (pgid {os.getpgid(pid)}): {command[:120]!r}")
            os.kill(pid, signal.SIGKILL)
    return alive


# -- (a) one Ray worker killed mid-scan ------------------------------------------------------------
def test_a_ray_worker_killed_mid_scan_costs_nothing(
    evidence: Path, reference: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Any] = []
    real_executor_for = pipeline.executor_for

    def spy(spec: Any, workers: int) -> Any:  # the pipeline's executor, kept to look at after
        made.append(real_executor_for(spec, workers))
        return made[-1]

    monkeypatch.setattr(pipeline, "executor_for", spy)
    case = tmp_path / "case"
    killed: list[tuple[int, int]] = []  # (pid, files done when it was killed)
    stop = threading.Event()

    def kill_one_worker() -> None:
        while not stop.is_set():
            done = _done_count(case)
            actors = _our_actor_pids() if done >= KILL_AFTER else []
            if actors:
                os.kill(actors[0], signal.SIGKILL)
                killed.append((actors[0], done))
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker)
    with local_ray(2):
        killer.start()
        try:
            result = _scan(evidence, case, "ray")
        finally:
            stop.set()
            killer.join()
    assert killed, "no Ray actor process was found to kill"
    assert killed[0][1] < TOTAL, "killed only after the analysis"
    executor = made[0]
    assert executor.retried >= 1  # the killed actor held items: they were retried alone
    assert executor.started >= 3  # and it was replaced
    assert result.analysed == TOTAL  # each file's result recorded once
    dump = dump_items(case)
    assert not any(
        codes & {"worker_lost", "item_timeout"} for codes in _problem_codes(dump).values()
    )
    assert differences(reference, dump) == []
    assert count_rows(case)["locations"] == TOTAL


# -- (b) the whole scan killed, then resumed ---------------------------------------------------
def _scan_cmd(evidence: Path, case: Path) -> list[str]:
    return [
        sys.executable, "-m", "consentry.cli.main", "scan", str(evidence), "--case", str(case),
        "--workers", "2", "--executor", "ray", "--no-links", "-q",
    ]  # fmt: skip


def test_a_killed_ray_scan_resumes_to_the_uninterrupted_store(
    evidence: Path, reference: dict, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    proc = subprocess.Popen(
        _scan_cmd(evidence, case),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: set[int] = set()  # every process of the scan seen (Ray's own among them)
    seen = -1
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            started |= _descendants(proc.pid)
            seen = _done_count(case)
            if seen >= KILL_AFTER:
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    left = _kill_leftovers(started, grace_s=5)
    assert seen >= KILL_AFTER and _done_count(case) < TOTAL, f"not killed mid-scan ({seen} done)"
    assert left == [], f"Ray processes outlived the killed scan: {left}"

    rerun = subprocess.run(_scan_cmd(evidence, case), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert differences(reference, dump_items(case)) == []
    assert len(_audit(case, "scan_interrupted")) == 1  # the killed run, said by the re-run
    assert verify_audit(CaseRef(case)).findings == ()  # the chain intact across the kill


# -- (c) a node that cannot see the evidence ---------------------------------------------------
def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True
    )
    return probe.returncode == 0


@pytest.fixture
def blind_node(evidence: Path, tmp_path: Path) -> Iterator[Any]:
    """A cluster whose head has no CPU (no work runs there) and one worker node that cannot
    see the evidence: ``ray start`` in its own mount namespace, a tmpfs over SHARE. Yields the
    ``Cluster`` (a sighted node can be added)."""
    if not _can_unshare():
        pytest.skip("needs root and unshare -m with mount (a private mount namespace)")
    share = evidence.parent
    # its own temp dir (short: socket paths): a node 'ray start'ed with the default one writes
    # /tmp/ray/ray_current_cluster, which any ray.init() without an address on this machine
    # then joins
    temp_dir = tempfile.mkdtemp(prefix="ray-blind-", dir="/tmp")
    with ray_cluster(1, 0) as cluster:
        log = open(tmp_path / "blind-node.log", "wb")  # noqa: SIM115 - closed below
        node = subprocess.Popen(
            [
                "unshare", "-m", "sh", "-c",
                'mount -t tmpfs tmpfs "$1" && '
                'exec "$2" start --address="$3" --num-cpus=1 --temp-dir="$4" --block',
                "sh", str(share), str(Path(sys.executable).with_name("ray")), cluster.address,
                temp_dir,
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        started: set[int] = set()
        try:
            deadline = time.monotonic() + 60
            while ray.cluster_resources().get("CPU", 0) < 1:
                assert node.poll() is None, (tmp_path / "blind-node.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the blind node did not join"
                time.sleep(0.2)
            yield cluster
        finally:
            started = _descendants(node.pid) | {node.pid}
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)  # ray start stops its node's processes
                try:
                    node.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(node.pid, signal.SIGKILL)
                    node.wait()
            log.close()
            _kill_leftovers(started, grace_s=5)
            shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_node_that_cannot_see_the_evidence_is_left_out(
    evidence: Path, reference: dict, blind_node: Any, tmp_path: Path
) -> None:
    from consentry.services.case import ErrorCode, ServiceError

    reason = f"cannot read {evidence}: No such file or directory"
    # alone on the cluster: no worker can do anything; the scan stops at once and says why,
    # and blames no file for it (everything found stays pending)
    case = tmp_path / "case"
    started = time.monotonic()
    with pytest.raises(ServiceError) as stopped:
        _scan(evidence, case, "ray", blind_node.address)
    assert time.monotonic() - started < 60
    assert stopped.value.code == ErrorCode.SCAN_FAILED and reason in str(stopped.value)
    dump = dump_items(case)
    top = [row for row in dump["locations"] if row[3] == "[]"]
    assert len(top) == TOTAL - N_MEMBERS  # the zip was never opened: its members unknown
    assert all(row[7] == "pending" for row in dump["locations"])
    assert _problem_codes(dump) == {} and dump["content_problems"] == []
    assert [e["workers"] for e in _audit(case, "workers_unusable")] == [
        [f"{os.uname().nodename}: {reason}"]
    ]
    assert len(_audit(case, "scan_failed")) == 1

    # a sighted node joins: the same scan resumes, the blind node is left out again, and the
    # store is the pool's
    blind_node.add_node(num_cpus=1)  # (not wait_for_nodes: it does not count the blind one)
    deadline = time.monotonic() + 30
    while ray.cluster_resources().get("CPU", 0) < 2:
        assert time.monotonic() < deadline, "the sighted node did not join"
        time.sleep(0.2)
    resumed = _scan(evidence, case, "ray", blind_node.address)
    assert resumed.workers == 1  # the sighted node's actor: the blind one is not counted
    assert [e["workers"] for e in _audit(case, "workers_unusable")] == [
        [f"{os.uname().nodename}: {reason}"]
    ] * 2
    assert differences(reference, dump_items(case)) == []
