"""The derivation pass's shortlist on a cluster: the index goes to the workers once, the queries
in slices, and the pairs proposed are exactly those of the index asked on the driver - on Ray
and on the local process pool (the seam is the executor's), for the flat index and for the
inverted-file one a large case gets. A slice whose worker is lost is asked on the driver."""

from __future__ import annotations

import numpy as np
import pytest

from consentry.derivation import candidates as ca
from consentry.derivation import link_pass
from consentry.execution import Lost, ProcessExecutor
from consentry.records.features import ImageFeatures
from consentry.records.problems import Code

from .ray_support import local_ray

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")


def _features(n: int, seed: int = 3) -> list[ImageFeatures]:
    """``n`` pictures of random ORB-like descriptors; every third one a noisy copy of the one
    before it (a re-encoded or cropped copy shares most descriptors, a few bits flipped)."""
    rng = np.random.default_rng(seed)
    out: list[ImageFeatures] = []
    for i in range(n):
        if i % 3 == 2:
            base = out[-1].descriptors
            flips = rng.integers(0, 2, base.shape, dtype=np.uint8) * rng.integers(
                0, 256, base.shape, dtype=np.uint8
            )
            keep = rng.random(base.shape) < 0.97
            desc = np.where(keep, base, base ^ flips).astype(np.uint8)
        else:
            desc = rng.integers(0, 256, (300, 32), dtype=np.uint8)
        points = rng.random((len(desc), 2), dtype=np.float32) * 500
        out.append(
            ImageFeatures(f"{i:064x}", 640, 480, 1.0, points, desc, points, desc[::-1].copy(), None)
        )
    return out


def _search_pairs(features: list[ImageFeatures], executor: object) -> list[tuple[int, int]]:
    return ca.shortlist(features, None, link_pass._search_on(executor))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def expected() -> dict[int, list[tuple[int, int]]]:
    by_size = {n: ca.shortlist(_features(n)) for n in (30, 90)}
    for n, pairs in by_size.items():  # the copies are found: the comparison is not of nothing
        copies = {(i - 1, i) for i in range(2, n, 3)}
        assert copies <= set(pairs), n
    return by_size


def test_the_index_on_ray_workers_proposes_the_same_pairs(
    expected: dict[int, list[tuple[int, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.execution.ray_executor import RayExecutor

    monkeypatch.setattr(link_pass, "QUERY_SLICE", 1000)  # several slices per round
    with local_ray(2):
        executor = RayExecutor(2)
        try:
            # 90 pictures: 27,000 descriptors, past the flat index's limit (an IVF index)
            for n, pairs in expected.items():
                assert _search_pairs(_features(n), executor) == pairs
            assert executor.started == 2 * 2  # one start per index: once per round, not per slice
        finally:
            executor.close()


def test_the_index_on_local_workers_proposes_the_same_pairs(
    expected: dict[int, list[tuple[int, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_pass, "QUERY_SLICE", 2000)
    executor = ProcessExecutor(2)
    try:
        assert _search_pairs(_features(90), executor) == expected[90]
    finally:
        executor.close()


class _LosesEverySecond:
    """An executor whose workers are lost on every second item (its on_lost result stands)."""

    def map(self, fn, items, *, on_lost, init=None, on_error=None):  # type: ignore[no-untyped-def]
        if init is not None:
            init.run()
        for i, item in enumerate(items):
            yield on_lost(item, Lost(Code.WORKER_LOST, "gone")) if i % 2 else fn(item)

    def close(self) -> None:
        pass


def test_a_lost_slice_is_asked_on_the_driver(
    expected: dict[int, list[tuple[int, int]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_pass, "QUERY_SLICE", 700)
    assert _search_pairs(_features(90), _LosesEverySecond()) == expected[90]
