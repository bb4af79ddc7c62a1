"""Parallel work behind one seam: ``make_executor(kind, workers)`` gives an ``Executor`` whose
``map`` applies a function to items in workers set up once each (``WorkerInit``), survives a
worker that dies or hangs (``Lost``), and yields results as they come.

The kinds, each one module registered in ``KINDS``: ``"process"``, worker processes on this
machine (``processes.py``); ``"inline"``, this process (``inline.py``; what one worker means);
``"ray"``, actors on a Ray cluster (``ray_executor.py``, imported only when asked for: Ray is
the optional extra ``consentry[ray]``). ``executor_for(spec)`` turns what a command line asked
(``ExecutorSpec``: ``--executor``, ``--workers``, ``--ray-address``) into one."""

from __future__ import annotations

import os
from collections.abc import Callable

from consentry.execution.core import (
    Executor,
    ExecutorSpec,
    Lost,
    NoUsableWorker,
    WorkerInit,
    WorkerUnusable,
)
from consentry.execution.inline import InlineExecutor
from consentry.execution.processes import ProcessExecutor

# kind -> factory(workers, address); a new kind is a new module and one line here
Factory = Callable[[int | None, str | None], Executor]


def _ray(workers: int | None, address: str | None) -> Executor:
    from consentry.execution.ray_executor import RayExecutor  # Ray only when asked for

    return RayExecutor(workers, address)


KINDS: dict[str, Factory] = {
    "inline": lambda workers, address: InlineExecutor(),
    "process": lambda workers, address: ProcessExecutor(workers or os.cpu_count() or 1),
    "ray": _ray,
}
# the kinds a command line offers (``local`` picks inline or process by the number of workers)
CHOICES = ("local", "ray")
CLUSTER_KINDS = frozenset({"ray"})  # kinds whose workers may run on other machines


def make_executor(kind: str, workers: int | None, address: str | None = None) -> Executor:
    """The executor of that kind with ``workers`` workers (ValueError for an unknown kind, or
    an address given to a kind that runs on this machine only)."""
    try:
        factory = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown executor {kind!r} (known: {', '.join(sorted(KINDS))})") from None
    if address is not None and kind not in CLUSTER_KINDS:
        raise ValueError(f"executor {kind!r} runs on this machine: it takes no cluster address")
    return factory(workers, address)


def local_kind(workers: int) -> str:
    """This machine's executor for ``workers`` workers: one runs inline (``--workers 1``: no
    process to start; a crash of native code then ends the run, which a re-run resumes), more
    run in worker processes."""
    return "process" if workers > 1 else "inline"


def resolve_kind(spec: ExecutorSpec, workers: int) -> str:
    """The exact kind for ``spec``: ``local`` becomes inline or process by ``workers``."""
    return local_kind(workers) if spec.kind == "local" else spec.kind


def executor_for(spec: ExecutorSpec, workers: int) -> Executor:
    """The executor ``spec`` asks for, ``workers`` being the number resolved for this machine
    (a cluster kind given no ``--workers`` takes one per CPU of the cluster)."""
    kind = resolve_kind(spec, workers)
    asked = spec.workers if kind in CLUSTER_KINDS else workers
    return make_executor(kind, asked, spec.address)


def is_cluster(spec: ExecutorSpec) -> bool:
    return spec.kind in CLUSTER_KINDS


__all__ = [
    "CHOICES",
    "Executor",
    "ExecutorSpec",
    "InlineExecutor",
    "KINDS",
    "Lost",
    "NoUsableWorker",
    "ProcessExecutor",
    "WorkerInit",
    "WorkerUnusable",
    "executor_for",
    "is_cluster",
    "local_kind",
    "make_executor",
    "resolve_kind",
]
