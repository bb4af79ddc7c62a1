"""Parallel work behind one seam: ``make_executor(kind, workers)`` gives an ``Executor`` whose
``map`` applies a function to items in workers set up once each (``WorkerInit``), survives a
worker that dies or hangs (``Lost``), and yields results as they come.

The kinds: ``"process"``, worker processes on this machine (``processes.py``), and
``"inline"``, this process (``inline.py``; what one worker means). Another kind - a Ray
cluster - is one module with a class of the same shape, and one line in ``KINDS``."""

from __future__ import annotations

from collections.abc import Callable

from consentry.execution.core import Executor, Lost, WorkerInit
from consentry.execution.inline import InlineExecutor
from consentry.execution.processes import ProcessExecutor

KINDS: dict[str, Callable[[int], Executor]] = {
    "inline": InlineExecutor,
    "process": ProcessExecutor,
}


def make_executor(kind: str, workers: int) -> Executor:
    """The executor of that kind with ``workers`` workers (ValueError for an unknown kind)."""
    try:
        factory = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown executor {kind!r} (known: {', '.join(sorted(KINDS))})") from None
    return factory(workers)


def local_kind(workers: int) -> str:
    """This machine's executor for ``workers`` workers: one runs inline (``--workers 1``: no
    process to start; a crash of native code then ends the run, which a re-run resumes), more
    run in worker processes."""
    return "process" if workers > 1 else "inline"


__all__ = [
    "Executor",
    "InlineExecutor",
    "KINDS",
    "Lost",
    "ProcessExecutor",
    "WorkerInit",
    "local_kind",
    "make_executor",
]
