"""The executor for one worker: this process. Nothing to start, nothing to pickle; a crash of
native code here ends the run (a re-run resumes; more workers isolate such an item)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from consentry.execution.core import Lost, WorkerInit

T = TypeVar("T")
R = TypeVar("R")


class InlineExecutor:
    """Items in order, in this process; ``on_lost`` is never called (no worker to lose)."""

    def __init__(self, workers: int = 1) -> None:
        del workers  # one, whatever was asked: the registry's factories share a signature
        self._init: WorkerInit | None = None

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_lost: Callable[[T, Lost], R],
        init: WorkerInit | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> Iterator[R]:
        if init is not None and init != self._init:
            init.run()  # this process is the worker; an equal init already ran here
        self._init = init
        for item in items:
            if on_error is None:
                yield fn(item)
                continue
            try:
                result = fn(item)
            except Exception as exc:  # noqa: BLE001 - the caller turns it into the item's problem
                result = on_error(item, exc)
            yield result

    def close(self) -> None:
        pass


__all__ = ["InlineExecutor"]
