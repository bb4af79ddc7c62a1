"""The Ray executor's contract (consentry.execution.ray_executor), as test_execution.py states it
for the process pool: each actor is set up once by its WorkerInit and kept across maps with an
equal init; results equal the inline executor's; an exception comes back through on_error or
ends the map; a worker process that dies costs only the item it died on (innocent items held
by a killed actor still come back, once); a hang comes back as item_timeout; an actor whose
init raises WorkerUnusable is left out (its node named in ``unusable``), and with none left
every item is lost as no_worker at once. Plus the node probe (``require_paths``) alone.

Ray starts a few times only (~5-10 s each here): one local instance for the single-node part,
one simulated two-node cluster (one node "blind") for the WorkerUnusable part."""

from __future__ import annotations

import os
import platform
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentry.execution import (
    InlineExecutor,
    Lost,
    NoUsableWorker,
    WorkerInit,
    WorkerUnusable,
    probe,
)
from consentry.execution.probe import require_paths
from consentry.records.problems import Code

from .ray_support import local_ray, ray_cluster

ray = pytest.importorskip("ray")

from consentry.execution.ray_executor import RayExecutor  # noqa: E402 - after the skip

DIE_ON = 3
HANG_ON = 5
BLIND_VAR = "CONSENTRY_TEST_SIGHT"  # set on one node of the cluster: its workers are "blind"

_SET_UP: str | None = None  # what this worker's init left (None: init never ran here)


# -- work, run in the actors (module level: they pickle by reference) --------------------------
def _init(folder: str, tag: str) -> None:
    """Counts its runs per process in FOLDER/<pid>, and leaves TAG for the work to see."""
    global _SET_UP
    with open(Path(folder) / str(os.getpid()), "a") as fh:
        fh.write("x")
    _SET_UP = tag


def _square(n: int) -> tuple[int, int, str | None]:
    return n * n, os.getpid(), _SET_UP


def _pure(n: int) -> tuple[int, int, str]:
    return n, n * n, f"item {n}"


def _slow(n: int) -> int:
    time.sleep(0.15)
    return n


def _exits_on_one(n: int) -> int:
    if n == DIE_ON:
        os._exit(137)  # gone without a word, as after the OOM killer's SIGKILL
    return n


def _sigkills_itself_on_one(n: int) -> int:
    if n == DIE_ON:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    return n


def _hangs_on_one(n: int) -> int:
    if n == HANG_ON:
        time.sleep(3600)
    return n


def _raises(n: int) -> int:
    raise RuntimeError(f"bug on {n}")


def _blind_when(blind: tuple[str, ...]) -> None:
    """A node probe stand-in: this node cannot do the work when its BLIND_VAR is in ``blind``
    (unset reads as "sighted")."""
    sight = os.environ.get(BLIND_VAR, "sighted")
    if sight in blind:
        raise WorkerUnusable(f"cannot read the evidence here ({sight})")


def _where(n: int) -> tuple[int, str, str]:
    return n, os.environ.get(BLIND_VAR, "sighted"), ray.get_runtime_context().get_node_id()


# -- what becomes of a lost item ---------------------------------------------------------------
def _lost(n: int, lost: Lost) -> tuple[int, str]:
    return n, lost.code.value


def _as_lost(n: int, lost: Lost) -> int:
    return -n if lost.code is Code.WORKER_LOST else -1000 - n


def _never_lost(n: int, lost: Lost) -> object:
    raise AssertionError(f"{n} lost: {lost}")


def _inits(folder: Path) -> dict[int, int]:
    return {int(p.name): len(p.read_text()) for p in folder.iterdir()}


@pytest.fixture
def executor() -> Iterator[RayExecutor]:
    ex = RayExecutor(2)
    try:
        yield ex
    finally:
        ex.close()


# -- one local Ray instance, two CPUs ------------------------------------------------------------
@pytest.fixture(scope="class")
def ray_local() -> Iterator[None]:
    with local_ray(2):
        yield


@pytest.mark.usefixtures("ray_local")
class TestLocal:
    def test_each_actor_is_set_up_once_and_kept_while_the_init_is_equal(
        self, executor: RayExecutor, tmp_path: Path
    ) -> None:
        init = WorkerInit(_init, (str(tmp_path), "models"))
        first = list(executor.map(_square, range(40), init=init, on_lost=_never_lost))
        again = list(
            executor.map(
                _square, range(10), init=WorkerInit(_init, (str(tmp_path), "models")),
                on_lost=_never_lost,
            )
        )  # fmt: skip
        inits_before = _inits(tmp_path)
        actors_before = set(executor.worker_pids())
        other = list(
            executor.map(
                _square, range(10), init=WorkerInit(_init, (str(tmp_path), "other")),
                on_lost=_never_lost,
            )
        )  # fmt: skip
        assert sorted(r[0] for r in first) == [n * n for n in range(40)]
        assert {r[2] for r in first + again} == {"models"}  # init ran before every item
        pids = {r[1] for r in first + again}
        assert pids == actors_before and len(pids) == 2 and os.getpid() not in pids
        assert inits_before == dict.fromkeys(pids, 1)  # once per actor, not per item or per map
        assert {r[2] for r in other} == {"other"}  # another init: new actors, set up for it
        assert not {r[1] for r in other} & pids
        assert executor.started == 4 and executor.retried == 0

    def test_results_equal_the_inline_executors(self, executor: RayExecutor) -> None:
        items = list(range(-5, 60))
        inline = list(InlineExecutor().map(_pure, items, on_lost=_never_lost))
        on_ray = list(executor.map(_pure, items, on_lost=_never_lost))
        assert len(on_ray) == len(items)  # each exactly once
        assert sorted(on_ray) == sorted(inline)

    def test_an_exception_comes_back_through_on_error_or_ends_the_map(
        self, executor: RayExecutor
    ) -> None:
        caught = list(
            executor.map(_raises, [1, 2], on_lost=_never_lost, on_error=lambda n, e: str(e))
        )
        assert sorted(caught) == ["bug on 1", "bug on 2"]
        with pytest.raises(RuntimeError, match="bug on"):
            list(executor.map(_raises, [1], on_lost=_never_lost))

    def test_a_killed_actor_costs_no_innocent_item(self, executor: RayExecutor) -> None:
        list(executor.map(_pure, range(4), on_lost=_never_lost))  # the actors, started
        victim = executor.worker_pids()[0]
        results = []
        for n in executor.map(_slow, range(1, 25), on_lost=_never_lost):
            if not results:  # both actors hold items now (4 each, 0.15 s per item)
                os.kill(victim, signal.SIGKILL)
            results.append(n)
        assert sorted(results) == list(range(1, 25))  # each once, none lost
        assert executor.retried >= 1  # the dead actor's items were retried, and came back
        assert victim not in executor.worker_pids() and len(executor.worker_pids()) == 2

    @pytest.mark.parametrize("work", [_exits_on_one, _sigkills_itself_on_one])
    def test_an_item_that_kills_its_worker_is_the_only_one_lost(
        self, executor: RayExecutor, work: object
    ) -> None:
        results = list(executor.map(work, range(1, 21), on_lost=_as_lost))  # type: ignore[arg-type]
        assert sorted(results) == sorted([-DIE_ON, *(n for n in range(1, 21) if n != DIE_ON)])
        assert executor.retried >= 1  # innocent items out at the time were retried, came back
        assert len(executor.worker_pids()) == 2  # the dead actor replaced

    def test_a_hanging_item_is_stopped_and_comes_back_as_a_timeout(self) -> None:
        # item_seconds covers a fresh actor's first call, which imports this module (seconds
        # on a loaded machine): 2 s made an innocent item time out now and then under CI load
        executor = RayExecutor(2, stall_seconds=3, item_seconds=20)
        started = time.monotonic()
        try:
            results = list(executor.map(_hangs_on_one, range(1, 11), on_lost=_lost))
        finally:
            executor.close()
        # the item sleeps an hour: stopped within minutes however loaded the machine (actor
        # starts with their imports take seconds each under a CI run)
        assert time.monotonic() - started < 240
        assert (HANG_ON, Code.ITEM_TIMEOUT.value) in results
        assert sorted(r for r in results if isinstance(r, int)) == [
            n for n in range(1, 11) if n != HANG_ON
        ]
        assert len(results) == 10


# -- a simulated cluster: two nodes, one of them cannot do the work --------------------------------
@pytest.fixture(scope="class")
def blind_cluster() -> Iterator[None]:
    with ray_cluster(2, 1, node_env=[{}, {BLIND_VAR: "blind"}]):
        yield


@pytest.mark.usefixtures("blind_cluster")
class TestCluster:
    def test_an_unusable_node_is_left_out_and_the_others_do_its_work(
        self, executor: RayExecutor
    ) -> None:
        init = WorkerInit(_blind_when, (("blind",),))
        results = list(executor.map(_where, range(16), init=init, on_lost=_never_lost))
        assert sorted(r[0] for r in results) == list(range(16))
        assert {r[1] for r in results} == {"sighted"}  # none ran on the blind node
        assert len({r[2] for r in results}) == 1
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2  # it was there, and left out
        assert len(executor.unusable) == 1
        assert executor.unusable[0] == f"{platform.node()}: cannot read the evidence here (blind)"
        assert len(executor.worker_pids()) == 1

    # a replacement or lone-retry actor kept off the node found unusable (it is idle, so
    # SPREAD would choose it): before the fix 8 of 12 innocent items were lost here
    def test_a_worker_dying_beside_an_unusable_node_costs_only_its_item(
        self, executor: RayExecutor
    ) -> None:
        init = WorkerInit(_blind_when, (("blind",),))
        results = list(executor.map(_exits_on_one, range(1, 13), init=init, on_lost=_lost))
        assert sorted(results, key=repr) == sorted(
            [(DIE_ON, Code.WORKER_LOST.value), *(n for n in range(1, 13) if n != DIE_ON)],
            key=repr,
        )

    def test_with_every_node_unusable_the_map_stops_at_once(self, executor: RayExecutor) -> None:
        init = WorkerInit(_blind_when, (("blind", "sighted"),))
        started = time.monotonic()
        with pytest.raises(NoUsableWorker, match="cannot read the evidence here"):
            list(executor.map(_where, range(16), init=init, on_lost=_lost))
        assert time.monotonic() - started < 30  # no wait for a worker that never comes
        assert sorted(executor.unusable) == [
            f"{platform.node()}: cannot read the evidence here (blind)",
            f"{platform.node()}: cannot read the evidence here (sighted)",
        ]
        assert executor.worker_pids() == []


# -- the node probe ------------------------------------------------------------------------------
def test_require_paths_passes_on_paths_it_can_use(tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    require_paths([str(tmp_path / "evidence"), os.fsencode(tmp_path)], [str(tmp_path)])


def test_require_paths_names_a_missing_path(tmp_path: Path) -> None:
    gone = tmp_path / "share" / "evidence"
    with pytest.raises(WorkerUnusable, match=f"cannot read {gone}: No such file"):
        require_paths([str(tmp_path), os.fsencode(gone)])
    with pytest.raises(WorkerUnusable, match=f"cannot write {gone}"):
        require_paths([str(tmp_path)], [str(gone)])


def test_require_paths_says_a_hung_mount_did_not_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = str(tmp_path / "stale-nfs")
    release = threading.Event()
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fsdecode(path) == hung:  # type: ignore[arg-type]
            release.wait(30)  # as a stat on a dead NFS server: no answer
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(probe.os, "stat", stat)
    started = time.monotonic()
    try:
        with pytest.raises(WorkerUnusable, match=f"{hung} did not answer within 1 s"):
            require_paths([str(tmp_path), hung], timeout_s=1.0)
    finally:
        release.set()
    assert time.monotonic() - started < 5
