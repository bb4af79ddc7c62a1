"""Run per-file work in worker processes so that no file, however hostile, stops a scan.

``worker.process`` turns every failure it can see into a Problem. What it cannot see is its own
process dying (the OOM killer, a segfault in a native decoder) or hanging in native code. With
``multiprocessing.Pool`` a lost worker's item simply never came back and ``imap_unordered``
waited for it forever. Here:

- at most ``IN_FLIGHT_PER_WORKER`` items per worker are handed out at a time, so a lost worker
  leaves only a few *suspects*;
- when a worker dies (``BrokenProcessPool``) or nothing has finished for ``STALL_SECONDS``, the
  pool is torn down and every item that was still out is retried once, alone, in a fresh
  single-worker pool with a time limit of ``ITEM_SECONDS``;
- an item that kills or stalls that lone worker too is recorded as ``worker_lost`` /
  ``item_timeout`` (an error on its location) and the scan goes on with a new pool.

Innocent items that happened to be out when a worker died get their normal result from the
retry, so the store holds exactly what an undisturbed run would, plus the culprit's problem.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from consentry.records.items import WorkItem, WorkResult
from consentry.records.problems import Code, Problem
from consentry.scan.worker import internal_error_result, process

# A worker's queue depth: enough to keep it busy between result hand-offs, few enough that a
# lost worker leaves a handful of suspects to retry one by one.
IN_FLIGHT_PER_WORKER = 4
# No result at all for this long while items are out: a worker hangs (in native code, where no
# Python timeout reaches). The slowest legitimate item measured is a 200 MP image with every
# analyzer, ~40 s on one 2-core machine; the limit leaves a wide margin for a loaded machine.
STALL_SECONDS = 300.0
# The time one suspect may take when it is retried alone.
ITEM_SECONDS = 300.0
# How often the parent wakes while waiting, to notice a stall.
POLL_SECONDS = 1.0


class Executor(Protocol):
    """Turns work items into results; the order of results is not the order of items."""

    def map(self, items: Iterable[WorkItem]) -> Iterator[WorkResult]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """``--workers 1``: in this process. ``worker.process`` never raises for an item; a crash of
    native code here ends the scan, which a re-run resumes (use more workers to isolate it)."""

    def map(self, items: Iterable[WorkItem]) -> Iterator[WorkResult]:
        return map(process, items)

    def close(self) -> None:
        pass


class ProcessExecutor:
    """Worker processes (spawned: the parent holds database connections and threads)."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        work: Callable[[WorkItem], WorkResult] = process,
        stall_seconds: float = STALL_SECONDS,
        item_seconds: float = ITEM_SECONDS,
    ) -> None:
        self.workers = max(1, workers)
        self.initializer = initializer
        self.initargs = initargs
        self.work = work
        self.stall_seconds = stall_seconds
        self.item_seconds = item_seconds
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self.retried = 0  # items retried alone after a worker was lost (for tests and logs)

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=self._ctx, initializer=self.initializer, initargs=self.initargs
        )

    def _pool_now(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._new_pool(self.workers)
        return self._pool

    def map(self, items: Iterable[WorkItem]) -> Iterator[WorkResult]:
        queue = deque(items)
        out: dict[Future[WorkResult], WorkItem] = {}
        last_progress = time.monotonic()
        while queue or out:
            pool = self._pool_now()
            while queue and len(out) < self.workers * IN_FLIGHT_PER_WORKER:
                item = queue.popleft()
                try:
                    out[pool.submit(self.work, item)] = item
                except BrokenProcessPool:
                    queue.appendleft(item)
                    break
            done, _ = wait(list(out), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            lost = False
            for future in done:
                item = out.pop(future)
                try:
                    yield future.result()
                    last_progress = time.monotonic()
                except BrokenProcessPool:
                    out[future] = item  # still a suspect: retried below with the others
                    lost = True
                except Exception as exc:  # noqa: BLE001 - e.g. a result that does not pickle
                    yield internal_error_result(item, exc)
            stalled = bool(out) and time.monotonic() - last_progress > self.stall_seconds
            if lost or stalled:
                suspects = list(out.values())
                out.clear()
                self._discard_pool()
                yield from self._retry_alone(suspects)
                last_progress = time.monotonic()

    def _retry_alone(self, suspects: list[WorkItem]) -> Iterator[WorkResult]:
        """Retry the suspects one at a time in a one-worker pool, each with a time limit. Only
        the item that breaks or stalls that worker is the culprit; the pool is renewed after it."""
        pool: ProcessPoolExecutor | None = None
        try:
            for item in suspects:
                self.retried += 1
                pool = pool or self._new_pool(1)
                try:
                    future = pool.submit(self.work, item)
                except BrokenProcessPool:
                    _kill(pool)
                    pool = self._new_pool(1)
                    future = pool.submit(self.work, item)
                done, _ = wait([future], timeout=self.item_seconds)
                if not done:
                    _kill(pool)
                    pool = None
                    yield _lost(
                        item, Code.ITEM_TIMEOUT, f"no result within {self.item_seconds:.0f} s"
                    )
                    continue
                try:
                    yield future.result()
                except BrokenProcessPool:
                    _kill(pool)
                    pool = None
                    yield _lost(
                        item,
                        Code.WORKER_LOST,
                        "the worker analysing it died, also when retried alone "
                        "(out of memory? a crash in a decoder?)",
                    )
                except Exception as exc:  # noqa: BLE001
                    yield internal_error_result(item, exc)
        finally:
            if pool is not None:
                _kill(pool)

    def _discard_pool(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None

    def close(self) -> None:
        self._discard_pool()


def _lost(item: WorkItem, code: Code, message: str) -> WorkResult:
    result = WorkResult(item.location_id, reanalysis=item.needs is not None)
    result.location_problems.append(Problem(code, message))
    return result


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, also when a worker hangs in native code (shutdown alone would wait)."""
    processes = dict(getattr(pool, "_processes", None) or {})
    for proc in processes.values():
        with contextlib.suppress(OSError, AttributeError):
            proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes.values():
        with contextlib.suppress(OSError, AttributeError, AssertionError):
            proc.join(timeout=5)


def make_executor(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple[Any, ...] = ()
) -> Executor:
    if workers > 1:
        return ProcessExecutor(workers, initializer, initargs)
    return InlineExecutor()


__all__ = [
    "Executor",
    "ITEM_SECONDS",
    "InlineExecutor",
    "ProcessExecutor",
    "STALL_SECONDS",
    "make_executor",
]
