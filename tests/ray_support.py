"""Ray for the tests: a local instance (``ray.init(num_cpus=2)``) or a simulated multi-node
cluster (``ray.cluster_utils.Cluster``: several raylets on this machine, each its own node),
started and stopped around a block. Tests import Ray through ``pytest.importorskip`` first, so
a checkout without the ``ray`` extra skips them with that reason."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _init(**kwargs: Any) -> None:
    import ray

    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        **kwargs,
    )


@contextmanager
def local_ray(cpus: int = 2) -> Iterator[None]:
    """A local Ray instance with ``cpus`` CPUs for the block (the executor joins it)."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _init(address="local", num_cpus=cpus)  # never a cluster whose address file is here
    try:
        yield
    finally:
        ray.shutdown()


@contextmanager
def ray_cluster(
    nodes: int = 2, cpus_per_node: int = 1, node_env: list[dict[str, str]] | None = None
) -> Iterator[Any]:
    """A simulated cluster of ``nodes`` nodes (the head one of them), ``cpus_per_node`` CPUs
    each; ``node_env[i]``: environment variables of node i's raylet and so of its workers.
    Yields the ``Cluster``; this process is connected to it for the block."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    envs = node_env or [{} for _ in range(nodes)]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": cpus_per_node, "env_vars": envs[0] or None},
    )
    try:
        for i in range(1, nodes):
            cluster.add_node(num_cpus=cpus_per_node, env_vars=envs[i] or None)
        cluster.wait_for_nodes()
        _init(address=cluster.address)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


__all__ = ["local_ray", "ray_cluster"]
