"""What every executor offers: ``map`` a function over items in workers, each worker set up once
by a ``WorkerInit`` (loading models, opening caches), results yielded as they come.

The scan and the derivation pass need the same things of parallel work - one hostile item must
not stop the run, a model must load once per worker, not once per item - so they share this
seam; where the workers run (this machine's processes, this process, a cluster later) is the
executor's business, chosen by name in ``consentry.execution.make_executor``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from consentry.records.problems import Code

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkerInit:
    """Run once in each worker before its first item. Equal inits share workers: an executor
    keeps its workers from one ``map`` to the next while the init stays equal, and starts new
    ones when it changes. ``fn`` and ``args`` must pickle (a module-level function)."""

    fn: Callable[..., None]
    args: tuple[Any, ...] = ()

    def run(self) -> None:
        self.fn(*self.args)


class WorkerUnusable(Exception):
    """Raised by a ``WorkerInit`` function when this worker cannot do the work at all - on a
    cluster node, the evidence or the case folder is not mounted. An executor with other
    workers leaves this one out and says why (``Executor.unusable``). A local executor's
    workers share the parent's file system, which the parent checked before the run: there
    this is an error."""


class NoUsableWorker(RuntimeError):
    """Raised by ``map`` when no worker at all can take the items (every node of a cluster
    refused with ``WorkerUnusable``, or none could be started). Not a problem of any item:
    the run stops, the items not yet done stay to do, and a re-run once the storage is
    mounted takes them."""


@dataclass(frozen=True)
class ExecutorSpec:
    """Where the work runs, as asked on the command line: ``kind`` (``"local"``: this process
    for one worker, worker processes for more; ``"ray"``: a Ray cluster; or an exact kind of
    ``execution.KINDS``), ``workers`` (None: one per CPU core of this machine, or of the Ray
    cluster) and, for Ray, the ``address`` of a running cluster (None: start one here)."""

    kind: str = "local"
    workers: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class Lost:
    """Why an item has no result of its own: the worker holding it died (``WORKER_LOST``) or
    gave nothing back in time (``ITEM_TIMEOUT``), also when the item was retried alone."""

    code: Code
    message: str


class Executor(Protocol):
    """Applies ``fn`` to every item; the order of results is not the order of items.

    ``on_lost`` makes the result of an item whose worker died or hung (the caller says what such
    an item becomes: a problem recorded on it). ``on_error`` makes the result of an item whose
    ``fn`` raised or whose result could not be brought back; without it the exception ends the
    ``map``. ``close`` stops the workers; an executor is not used after it."""

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_lost: Callable[[T, Lost], R],
        init: WorkerInit | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> Iterator[R]: ...

    def close(self) -> None: ...


__all__ = ["Executor", "ExecutorSpec", "Lost", "NoUsableWorker", "WorkerInit", "WorkerUnusable"]
