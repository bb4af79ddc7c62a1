"""The executor seam (consentry.execution) on toy work: each worker is set up once by its
WorkerInit, kept across maps with an equal init; a worker that dies or hangs costs only the
item it died on, which comes back through on_lost; an exception in the work comes back
through on_error or ends the map."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from consentry.execution import (
    KINDS,
    InlineExecutor,
    Lost,
    ProcessExecutor,
    WorkerInit,
    local_kind,
    make_executor,
)
from consentry.records.problems import Code

DIE_ON = 3
HANG_ON = 5

_SET_UP: str | None = None  # what this worker's init left (None: init never ran here)


def _init(folder: str, tag: str) -> None:
    """Counts its runs per process in FOLDER/<pid>, and leaves TAG for the work to see."""
    global _SET_UP
    with open(Path(folder) / str(os.getpid()), "a") as fh:
        fh.write("x")
    _SET_UP = tag


def _square(n: int) -> tuple[int, int, str | None]:
    return n * n, os.getpid(), _SET_UP


def _dies_on_one(n: int) -> int:
    if n == DIE_ON:
        os._exit(137)  # gone without a word, as after the OOM killer's SIGKILL
    return n


def _hangs_on_one(n: int) -> int:
    if n == HANG_ON:
        time.sleep(3600)
    return n


def _raises(n: int) -> int:
    raise RuntimeError(f"bug on {n}")


def _lost(n: int, lost: Lost) -> tuple[int, str]:
    return n, lost.code.value


def _as_lost(n: int, lost: Lost) -> int:
    return -n if lost.code is Code.WORKER_LOST else -1000 - n


def _never_lost(n: int, lost: Lost) -> object:
    raise AssertionError(f"{n} lost: {lost}")


def _inits(folder: Path) -> dict[int, int]:
    return {int(p.name): len(p.read_text()) for p in folder.iterdir()}


def test_each_worker_is_set_up_once_and_kept_while_the_init_is_equal(tmp_path: Path) -> None:
    executor = ProcessExecutor(2)
    init = WorkerInit(_init, (str(tmp_path), "models"))
    try:
        first = list(executor.map(_square, range(40), init=init, on_lost=_never_lost))
        again = list(
            executor.map(
                _square, range(10), init=WorkerInit(_init, (str(tmp_path), "models")),
                on_lost=_never_lost,
            )
        )  # fmt: skip
        inits_before = _inits(tmp_path)
        other = list(
            executor.map(
                _square, range(10), init=WorkerInit(_init, (str(tmp_path), "other")),
                on_lost=_never_lost,
            )
        )  # fmt: skip
    finally:
        executor.close()
    assert sorted(r[0] for r in first) == [n * n for n in range(40)]
    assert {r[2] for r in first + again} == {"models"}  # init ran before every item
    pids = {r[1] for r in first + again}
    assert len(pids) <= 2 and os.getpid() not in pids
    assert inits_before == dict.fromkeys(pids, 1)  # once per worker, not per item or per map
    assert {r[2] for r in other} == {"other"}  # another init: new workers, set up for it
    assert not {r[1] for r in other} & pids


def test_a_dying_worker_costs_only_its_own_item() -> None:
    executor = ProcessExecutor(2)
    try:
        results = list(executor.map(_dies_on_one, range(1, 21), on_lost=_as_lost))
    finally:
        executor.close()
    assert sorted(results) == sorted([-DIE_ON, *(n for n in range(1, 21) if n != DIE_ON)])
    assert executor.retried >= 1  # innocent items out at the time were retried, and came back


def test_a_hanging_item_is_stopped_and_comes_back_as_a_timeout() -> None:
    executor = ProcessExecutor(2, stall_seconds=2, item_seconds=2)
    started = time.monotonic()
    try:
        results = list(executor.map(_hangs_on_one, range(1, 11), on_lost=_lost))
    finally:
        executor.close()
    assert time.monotonic() - started < 60
    assert (HANG_ON, Code.ITEM_TIMEOUT.value) in results
    assert sorted(r for r in results if isinstance(r, int)) == [
        n for n in range(1, 11) if n != HANG_ON
    ]


def test_an_exception_comes_back_through_on_error_or_ends_the_map() -> None:
    executor = ProcessExecutor(2)
    try:
        caught = list(
            executor.map(_raises, [1, 2], on_lost=_never_lost, on_error=lambda n, e: str(e))
        )
        with pytest.raises(RuntimeError, match="bug on"):
            list(executor.map(_raises, [1], on_lost=_never_lost))
    finally:
        executor.close()
    assert sorted(caught) == ["bug on 1", "bug on 2"]


def test_inline_runs_here_in_order_with_the_same_contract(tmp_path: Path) -> None:
    executor = InlineExecutor()
    init = WorkerInit(_init, (str(tmp_path), "inline"))
    results = list(executor.map(_square, [3, 1, 2], init=init, on_lost=_never_lost))
    list(executor.map(_square, [4], init=init, on_lost=_never_lost))
    assert [r[0] for r in results] == [9, 1, 4]
    assert {r[1] for r in results} == {os.getpid()}
    assert results[0][2] == "inline"
    assert _inits(tmp_path) == {os.getpid(): 1}  # an equal init does not run again
    caught = list(executor.map(_raises, [7], on_lost=_never_lost, on_error=lambda n, e: n))
    assert caught == [7]
    with pytest.raises(RuntimeError):
        list(executor.map(_raises, [7], on_lost=_never_lost))


def test_executors_are_chosen_by_name() -> None:
    assert isinstance(make_executor("inline", 4), InlineExecutor)
    process = make_executor("process", 3)
    assert isinstance(process, ProcessExecutor) and process.workers == 3
    assert (local_kind(1), local_kind(2)) == ("inline", "process")
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask", 2)
    with pytest.raises(ValueError, match="takes no cluster address"):
        make_executor("process", 2, "head:6379")
    assert "ray" in KINDS  # registered, imported only when made (tests/test_ray_executor.py)
