"""The local executor: worker processes on this machine, so that no item, however hostile,
stops the run.

The work functions turn every failure they can see into a result. What they cannot see is
their own process dying (the OOM killer, a segfault in a native decoder) or hanging in native
code. With ``multiprocessing.Pool`` a lost worker's item simply never came back and
``imap_unordered`` waited for it forever. Here:

- at most ``IN_FLIGHT_PER_WORKER`` items per worker are handed out at a time, so a lost worker
  leaves only a few *suspects*;
- when a worker dies (``BrokenProcessPool``) or nothing has finished for ``STALL_SECONDS``, the
  pool is torn down and every item that was still out is retried once, alone, in a fresh
  single-worker pool with a time limit of ``ITEM_SECONDS``;
- an item that kills or stalls that lone worker too is handed to ``on_lost`` as ``worker_lost``
  / ``item_timeout``, and the run goes on with a new pool.

Innocent items that happened to be out when a worker died get their normal result from the
retry, so the caller receives exactly what an undisturbed run would give, plus the culprit's
``on_lost`` result. Workers are spawned, not forked: the parent holds database connections and
threads.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from consentry.execution.core import Lost, WorkerInit
from consentry.records.problems import Code

T = TypeVar("T")
R = TypeVar("R")

# A worker's queue depth: enough to keep it busy between result hand-offs, few enough that a
# lost worker leaves a handful of suspects to retry one by one.
IN_FLIGHT_PER_WORKER = 4
# No result at all for this long while items are out: a worker hangs (in native code, where no
# Python timeout reaches). The slowest legitimate scan item measured is a 200 MP image with
# every analyzer, ~40 s on one 2-core machine; the limit leaves a wide margin for a loaded
# machine.
STALL_SECONDS = 300.0
# The time one suspect may take when it is retried alone.
ITEM_SECONDS = 300.0
# How often the parent wakes while waiting, to notice a stall.
POLL_SECONDS = 1.0

_DIED = (
    "the worker analysing it died, also when retried alone (out of memory? a crash in a decoder?)"
)


class ProcessExecutor:
    """Worker processes (spawned), kept from one ``map`` to the next while the init is equal."""

    def __init__(
        self,
        workers: int,
        stall_seconds: float = STALL_SECONDS,
        item_seconds: float = ITEM_SECONDS,
    ) -> None:
        self.workers = max(1, workers)
        self.stall_seconds = stall_seconds
        self.item_seconds = item_seconds
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._init: WorkerInit | None = None  # the init the current pool's workers ran
        self.retried = 0  # items retried alone after a worker was lost (for tests and logs)

    def _new_pool(self, workers: int, init: WorkerInit | None) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            workers, mp_context=self._ctx, initializer=init.run if init else None
        )

    def _pool_for(self, init: WorkerInit | None) -> ProcessPoolExecutor:
        if self._pool is not None and init != self._init:
            self._discard_pool()  # set up for other work: new workers, set up for this one
        if self._pool is None:
            self._pool = self._new_pool(self.workers, init)
            self._init = init
        return self._pool

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_lost: Callable[[T, Lost], R],
        init: WorkerInit | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> Iterator[R]:
        queue = deque(items)
        out: dict[Future[R], T] = {}
        last_progress = time.monotonic()
        while queue or out:
            pool = self._pool_for(init)
            while queue and len(out) < self.workers * IN_FLIGHT_PER_WORKER:
                item = queue.popleft()
                try:
                    out[pool.submit(fn, item)] = item
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
                    if on_error is None:
                        raise
                    yield on_error(item, exc)
            stalled = bool(out) and time.monotonic() - last_progress > self.stall_seconds
            if lost or stalled:
                suspects = list(out.values())
                out.clear()
                self._discard_pool()
                yield from self._retry_alone(fn, suspects, init, on_lost, on_error)
                last_progress = time.monotonic()

    def _retry_alone(
        self,
        fn: Callable[[T], R],
        suspects: list[T],
        init: WorkerInit | None,
        on_lost: Callable[[T, Lost], R],
        on_error: Callable[[T, Exception], R] | None,
    ) -> Iterator[R]:
        """Retry the suspects one at a time in a one-worker pool, each with a time limit. Only
        the item that breaks or stalls that worker is the culprit; the pool is renewed after it."""
        pool: ProcessPoolExecutor | None = None
        try:
            for item in suspects:
                self.retried += 1
                pool = pool or self._new_pool(1, init)
                try:
                    future = pool.submit(fn, item)
                except BrokenProcessPool:
                    _kill(pool)
                    pool = self._new_pool(1, init)
                    future = pool.submit(fn, item)
                done, _ = wait([future], timeout=self.item_seconds)
                if not done:
                    _kill(pool)
                    pool = None
                    message = f"no result within {self.item_seconds:.0f} s"
                    yield on_lost(item, Lost(Code.ITEM_TIMEOUT, message))
                    continue
                try:
                    yield future.result()
                except BrokenProcessPool:
                    _kill(pool)
                    pool = None
                    yield on_lost(item, Lost(Code.WORKER_LOST, _DIED))
                except Exception as exc:  # noqa: BLE001
                    if on_error is None:
                        raise
                    yield on_error(item, exc)
        finally:
            if pool is not None:
                _kill(pool)

    def _discard_pool(self) -> None:
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None

    def close(self) -> None:
        self._discard_pool()


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now, also when a worker hangs in native code (shutdown alone would wait).
    The killed workers are joined: their CPU time then counts in this process's
    ``RUSAGE_CHILDREN`` (the derivation pass reports it)."""
    processes = dict(getattr(pool, "_processes", None) or {})
    for proc in processes.values():
        with contextlib.suppress(OSError, AttributeError):
            proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes.values():
        with contextlib.suppress(OSError, AttributeError, AssertionError):
            proc.join(timeout=5)


__all__ = ["ITEM_SECONDS", "ProcessExecutor", "STALL_SECONDS"]
