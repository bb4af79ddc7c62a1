"""The Ray executor: the same ``map`` as the local process pool, on the actors of a Ray cluster
(``consentry scan --executor ray [--ray-address ADDRESS]``; ``pip install 'consentry[ray]'``).

One actor per worker (one CPU each), spread over the cluster's nodes. An actor runs the
``WorkerInit`` once - the models load once per actor - and then takes items; the init and its
arguments go to the object store once (``ray.put``), so each node fetches them once, however
many actors it holds. Results come back to this process, which alone writes the case store.

What it keeps of the process pool's guarantees (``processes.py``):

- at most ``IN_FLIGHT_PER_WORKER`` items are queued on an actor at a time, so a lost actor
  leaves only a few suspects;
- when an actor dies (``ActorDiedError``: a segfault, the OOM killer, a killed worker process,
  a node gone) only *its* items are suspects: the others' results stand. The dead actor is
  replaced; its items are retried once, alone, on a fresh actor with a time limit of
  ``ITEM_SECONDS``; an item that kills or stalls that lone actor too goes to ``on_lost``
  (``worker_lost`` / ``item_timeout``);
- nothing finished for ``STALL_SECONDS`` while items are out: every busy actor is killed and
  its items are retried alone the same way;
- an actor whose init raises ``WorkerUnusable`` (its node cannot read the evidence or write
  the case folder) is left out and its reason kept in ``unusable``, and later actors keep off
  that node; with no usable actor left, ``map`` raises ``NoUsableWorker`` at once instead of
  waiting for a worker that never comes (the items not done stay to do: no item is blamed for
  the cluster's storage).

Each item's result comes back exactly once; the caller records it, so nothing is in the store
twice. Without an address a local Ray instance is started with this machine's CPUs (and stopped
when the process ends); with one, the work joins that cluster, whose nodes must have consentry
installed and the evidence mounted at the same path.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from consentry.execution.core import Lost, NoUsableWorker, WorkerInit, WorkerUnusable
from consentry.records.problems import Code

T = TypeVar("T")
R = TypeVar("R")

IN_FLIGHT_PER_WORKER = 4
STALL_SECONDS = 300.0
ITEM_SECONDS = 300.0
POLL_SECONDS = 1.0
# How long a new actor may take to start and run its init (a model load on a busy node).
START_SECONDS = 600.0

_DIED = (
    "the Ray worker analysing it died, also when retried alone (out of memory? a crash in a "
    "decoder? its node lost?)"
)

_started_here = False


class RayUnavailable(RuntimeError):
    """Ray is not installed, or the cluster at the address cannot be reached."""


def connect(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at ``address``, or start a local instance with ``num_cpus`` CPUs (None:
    this machine's). A process already connected (a test's ``ray.init``) stays as it is."""
    global _started_here
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--executor ray needs Ray: pip install 'consentry[ray]'") from None
    if ray.is_initialized():
        return
    if address is not None:
        _check_reachable(address)
    # Ray's token authentication stays on (a local instance accepts only this machine's
    # token); its notice that it is on would be the one line of noise on a scan's stderr
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(
        logging.ERROR
    )
    try:
        ray.init(
            # no address: always a new local instance ("local"); None would silently join
            # whatever RAY_ADDRESS or the address file of a `ray start --head` here names
            address=address or "local",
            num_cpus=None if address else (num_cpus or os.cpu_count() or 1),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayUnavailable(f"cannot start or reach {where}: {exc}") from None
    if not _started_here:
        _started_here = True
        atexit.register(ray.shutdown)


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A ``host:port`` that refuses or does not answer is one clear error within seconds;
    ``ray.init`` alone retries it for minutes. Other forms (``auto``, ``ray://``) go to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or "://" in address:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise RayUnavailable(
            f"cannot start or reach the Ray cluster at {address}: {exc.strerror or exc} "
            "(is `ray start --head` running there?)"
        ) from None


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


@dataclass(frozen=True)
class _Failed:
    """An exception ``fn`` raised in the actor, brought back as a value."""

    error: Exception


class _Actor:
    """One worker: runs the init once, then items. Made a Ray actor class on first use (so that
    importing this module does not import Ray)."""

    def __init__(self, init: WorkerInit | None) -> None:
        import ray

        self.node = platform.node()
        self.node_id = ray.get_runtime_context().get_node_id()
        self.unusable: str | None = None
        try:
            if init is not None:
                init.run()
        except WorkerUnusable as exc:
            self.unusable = f"{self.node}: {exc}"

    def ready(self) -> tuple[str, str | None]:
        return self.node_id, self.unusable

    def pid(self) -> int:
        return os.getpid()

    def run(self, fn: Callable[[Any], Any], item: Any) -> Any:
        try:
            return fn(item)
        except Exception as exc:  # noqa: BLE001 - the caller's on_error decides
            return _Failed(exc)


_remote_class: Any = None


def _actor_class() -> Any:
    global _remote_class
    if _remote_class is None:
        import ray

        _remote_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(_Actor)
    return _remote_class


class RayExecutor:
    """Actors on a Ray cluster, kept from one ``map`` to the next while the init is equal."""

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        stall_seconds: float = STALL_SECONDS,
        item_seconds: float = ITEM_SECONDS,
    ) -> None:
        connect(address, workers)
        cpus = cluster_cpus()
        # one CPU per actor: more actors than the cluster's CPUs would wait for a CPU forever
        self.workers = max(1, min(workers or cpus, cpus))
        self.stall_seconds = stall_seconds
        self.item_seconds = item_seconds
        self._actors: list[Any] = []
        self._init: WorkerInit | None = None
        self._init_ref: Any = None
        self.unusable: list[str] = []  # why actors were left out, "node: reason"
        self._bad_nodes: set[str] = set()  # Ray node ids of those: new actors keep off them
        self._spare: Any = None  # the lone retry's actor, alive after the retries
        self.retried = 0  # items retried alone after an actor was lost (for tests and logs)
        self.started = 0  # actors started, the replacements included
        self.used = 0  # the most usable actors a map had (fewer than asked: nodes left out)

    # -- actors -----------------------------------------------------------------------------
    def _start(self, n: int) -> list[Any]:
        """``n`` new usable actors, or fewer when nodes cannot do the work (recorded)."""
        import ray

        cls = _actor_class()
        options: dict[str, Any] = {"scheduling_strategy": "SPREAD"}
        if self._bad_nodes:
            # a replacement must not land on a node known to be unusable (an idle one draws
            # SPREAD's placement), nor wait for one when no other node has CPUs
            alive = {
                node["NodeID"]
                for node in ray.nodes()
                if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
            }
            if not alive - self._bad_nodes:
                return []
            options["label_selector"] = {
                "ray.io/node-id": f"!in({','.join(sorted(self._bad_nodes))})"
            }
        fresh = [cls.options(**options).remote(self._init_ref) for _ in range(n)]
        self.started += n
        usable = []
        for actor in fresh:
            try:
                node_id, reason = ray.get(actor.ready.remote(), timeout=START_SECONDS)
            except Exception as exc:  # noqa: BLE001 - its init crashed or never finished
                node_id, reason = None, f"worker did not start: {_short(exc)}"
            if reason is None:
                usable.append(actor)
            else:
                if node_id is not None:
                    self._bad_nodes.add(node_id)
                if reason not in self.unusable:
                    self.unusable.append(reason)
                ray.kill(actor)
        return usable

    def _actors_for(self, init: WorkerInit | None) -> list[Any]:
        import ray

        if self._actors and init != self._init:
            self._kill_all()
        if self._init_ref is None or init != self._init:
            self._init_ref = ray.put(init)
            self._init = init
        if not self._actors:
            self._actors = self._start(self.workers)
            self.used = max(self.used, len(self._actors))
        return self._actors

    def _kill_all(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._spare is not None:
            ray.kill(self._spare)
            self._spare = None

    # -- the work ---------------------------------------------------------------------------
    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_lost: Callable[[T, Lost], R],
        init: WorkerInit | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> Iterator[R]:
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        queue = deque(items)
        actors = self._actors_for(init)
        load: dict[int, int] = {i: 0 for i in range(len(actors))}
        out: dict[Any, tuple[int, T]] = {}  # object ref -> (actor slot, item)
        last_progress = time.monotonic()
        while queue or out:
            if not actors:
                raise self._none_usable()
            for slot in sorted(load, key=load.__getitem__):
                while queue and load[slot] < IN_FLIGHT_PER_WORKER:
                    item = queue.popleft()
                    out[actors[slot].run.remote(fn, item)] = (slot, item)
                    load[slot] += 1
            done, _ = ray.wait(list(out), num_returns=1, timeout=POLL_SECONDS)
            dead: set[int] = set()
            for ref in done:
                slot, item = out.pop(ref)
                load[slot] -= 1
                try:
                    value = ray.get(ref)
                except RayActorError:
                    out[ref] = (slot, item)  # a suspect: retried below with the actor's others
                    load[slot] += 1
                    dead.add(slot)
                    continue
                except (GetTimeoutError, ray.exceptions.RayError) as exc:
                    # e.g. a result that does not pickle: that item's error, not the actor's
                    if on_error is None:
                        raise
                    yield on_error(item, exc)
                    last_progress = time.monotonic()
                    continue
                last_progress = time.monotonic()
                yield from self._deliver(item, value, on_error)
            if bool(out) and time.monotonic() - last_progress > self.stall_seconds:
                dead |= {slot for slot, _ in out.values()}  # every busy actor: hung
            if dead:
                theirs = [ref for ref, (slot, _) in out.items() if slot in dead]
                # results the actor finished before it died are kept, not analysed twice
                ready, _ = ray.wait(theirs, num_returns=len(theirs), timeout=0)
                suspects = []
                for ref in theirs:
                    _, item = out.pop(ref)
                    if ref in ready:
                        try:
                            value = ray.get(ref)
                        except ray.exceptions.RayError:
                            suspects.append(item)
                            continue
                        yield from self._deliver(item, value, on_error)
                    else:
                        suspects.append(item)
                for slot in dead:
                    ray.kill(actors[slot])
                    load[slot] = 0
                yield from self._retry_alone(fn, suspects, on_lost, on_error)
                # the lone actor that survived the retries replaces one of the dead (one model
                # load fewer per lost worker); new ones for the rest
                spare, self._spare = self._spare, None
                replacements = [spare] if spare is not None else []
                if len(dead) > len(replacements):
                    replacements += self._start(len(dead) - len(replacements))
                for slot in sorted(dead):
                    if replacements:
                        actors[slot] = replacements.pop()
                    else:  # the node can no longer do the work: no actor in this slot
                        load.pop(slot, None)
                if len(load) < len(actors):
                    actors = [actors[s] for s in sorted(load)]
                    remap = {old: new for new, old in enumerate(sorted(load))}
                    load = {remap[s]: n for s, n in load.items()}
                    out = {ref: (remap[s], it) for ref, (s, it) in out.items()}
                self._actors = actors
                last_progress = time.monotonic()

    def _retry_alone(
        self,
        fn: Callable[[T], R],
        suspects: list[T],
        on_lost: Callable[[T, Lost], R],
        on_error: Callable[[T, Exception], R] | None,
    ) -> Iterator[R]:
        """Each suspect alone on a fresh actor, with a time limit: only the item that kills or
        stalls it is the culprit; the actor is renewed after it."""
        import ray
        from ray.exceptions import RayActorError

        lone: Any = None
        try:
            for item in suspects:
                self.retried += 1
                if lone is None:
                    started = self._start(1)
                    if not started:
                        raise self._none_usable()
                    lone = started[0]
                ref = lone.run.remote(fn, item)
                done, _ = ray.wait([ref], timeout=self.item_seconds)
                if not done:
                    ray.kill(lone)
                    lone = None
                    message = f"no result within {self.item_seconds:.0f} s"
                    yield on_lost(item, Lost(Code.ITEM_TIMEOUT, message))
                    continue
                try:
                    value = ray.get(ref)
                except RayActorError:
                    lone = None
                    yield on_lost(item, Lost(Code.WORKER_LOST, _DIED))
                    continue
                except ray.exceptions.RayError as exc:
                    if on_error is None:
                        raise
                    yield on_error(item, exc)
                    continue
                yield from self._deliver(item, value, on_error)
            self._spare, lone = lone, None  # kept for ``map``, which makes it a replacement
        finally:
            if lone is not None:
                ray.kill(lone)

    def _none_usable(self) -> NoUsableWorker:
        reason = "; ".join(self.unusable) or "no Ray worker could be started"
        return NoUsableWorker(f"no usable Ray worker: {reason}")

    @staticmethod
    def _deliver(item: T, value: Any, on_error: Callable[[T, Exception], R] | None) -> Iterator[R]:
        if isinstance(value, _Failed):
            if on_error is None:
                raise value.error
            yield on_error(item, value.error)
        else:
            yield value

    def worker_pids(self) -> list[int]:
        """The process ids of the current actors (the fault tests kill one)."""
        import ray

        return list(ray.get([a.pid.remote() for a in self._actors]))

    def close(self) -> None:
        self._kill_all()
        self._init = None
        self._init_ref = None


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}"


__all__ = [
    "ITEM_SECONDS",
    "RayExecutor",
    "RayUnavailable",
    "STALL_SECONDS",
    "cluster_cpus",
    "connect",
]
