"""The scan's work on an executor (``consentry.execution``): ``worker.process`` on every item,
the plan's models loaded once per worker (the pipeline's ``WorkerInit``), and what an item becomes
when its worker died or hung on it also when retried alone: a ``worker_lost`` /
``item_timeout`` error on its location, so the scan goes on and the store says which file."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from consentry.analyzers.plan import AnalysisPlan
from consentry.analyzers.runner import init_process
from consentry.execution import Executor, Lost, WorkerInit
from consentry.execution.probe import require_paths
from consentry.records.items import WorkItem, WorkResult
from consentry.records.problems import Problem
from consentry.scan.worker import internal_error_result, process

Mapper = Callable[[Iterable[WorkItem]], Iterator[WorkResult]]


def analysis_mapper(
    executor: Executor,
    init: WorkerInit | None,
    work: Callable[[WorkItem], WorkResult] = process,
) -> Mapper:
    """Items to results on ``executor``, each worker set up by ``init`` (loading the models)
    once: they keep their models from one call to the next."""

    def mapper(items: Iterable[WorkItem]) -> Iterator[WorkResult]:
        return executor.map(
            work, items, init=init, on_lost=lost_result, on_error=internal_error_result
        )

    return mapper


def worker_init(plan: AnalysisPlan, roots: Sequence[bytes], cluster: bool) -> WorkerInit:
    """What each worker runs first: load the plan's models; on a cluster, first check that this
    node reads every source and writes the case folder (thumbnails and face crops are written
    there by the workers), else it is left out (``WorkerUnusable``)."""
    if not cluster:
        return WorkerInit(init_process, (plan,))
    writable = (plan.case_dir,) if plan.case_dir else ()
    return WorkerInit(init_cluster_worker, (plan, tuple(roots), writable))


def init_cluster_worker(
    plan: AnalysisPlan, readable: tuple[bytes, ...], writable: tuple[str, ...]
) -> None:
    require_paths(readable, writable)
    init_process(plan)


def lost_result(item: WorkItem, lost: Lost) -> WorkResult:
    """An item the executor lost: no content, the reason as an error on its location."""
    result = WorkResult(item.location_id, reanalysis=item.needs is not None)
    result.location_problems.append(Problem(lost.code, lost.message))
    return result


__all__ = ["Mapper", "analysis_mapper", "init_cluster_worker", "lost_result", "worker_init"]
