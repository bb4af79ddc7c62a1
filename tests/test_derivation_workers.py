"""The derivation pass on the executor seam: on worker processes it stores exactly what it
stores in one process, and an item whose worker is lost is recorded as failed - the pass goes
on (it used to wait forever on ``multiprocessing.Pool`` for a dead worker's item)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.cli.main import main
from consentry.derivation import link_pass
from consentry.derivation.verify import verify_chunk
from consentry.execution import InlineExecutor, Lost, WorkerInit
from consentry.records.problems import Code
from consentry.store.case import open_case

from .synthetic import photo_like

T = TypeVar("T")
R = TypeVar("R")
TABLES = ("derivation_features", "derivation_pairs", "derivation_links")


def _jpeg(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb).save(path, "JPEG", quality=90)


def _picture(seed: int) -> np.ndarray:
    return np.asarray(photo_like(seed, width=640, height=480))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case, scanned without links: a photo, two edits of it, a resized copy, two others."""
    root = tmp_path_factory.mktemp("evidence")
    source = _picture(21)
    _jpeg(source, root / "original.jpg")
    for name, seed, (x, y) in (("edit_a", 90, (250, 220)), ("edit_b", 91, (60, 40))):
        edited = source.copy()
        edited[y : y + 160, x : x + 180] = _picture(seed)[y : y + 160, x : x + 180]
        _jpeg(edited, root / f"{name}.jpg")
    _jpeg(np.asarray(Image.fromarray(source).resize((480, 360))), root / "smaller.jpg")
    for seed in (31, 32):
        _jpeg(_picture(seed), root / f"other_{seed}.jpg")
    case = tmp_path_factory.mktemp("cases") / "scanned"
    result = CliRunner().invoke(
        main,
        ["scan", str(root), "--case", str(case), "--workers", "1", "-q"]
        + ["--skip", "faces,explicit", "--no-links"],
    )
    assert result.exit_code == 0, result.output
    return case


def _copy(case: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(case, copy)
    return copy


def _link(case: Path, workers: int) -> link_pass.LinkOutcome:
    with open_case(case) as opened:
        return link_pass.link_derivations(opened.store, opened.path, "examiner", workers)


def _rows(case: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in TABLES}


def test_worker_processes_store_what_one_process_stores(
    scanned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline, spread = _copy(scanned, tmp_path, "inline"), _copy(scanned, tmp_path, "spread")
    one = _link(inline, workers=1)
    monkeypatch.setattr(link_pass, "PARALLEL_FROM", 0)  # a pool even for this small case
    chosen: list[str] = []
    make = link_pass.make_executor
    monkeypatch.setattr(
        link_pass, "make_executor", lambda kind, n, *a: chosen.append(kind) or make(kind, n)
    )
    two = _link(spread, workers=2)
    assert chosen == ["process"]
    assert one.links >= 2 and (one.links, one.related_pairs) == (two.links, two.related_pairs)
    assert _rows(inline) == _rows(spread)
    renders = sorted(p.relative_to(inline) for p in (inline / "derivation").rglob("*.png"))
    assert renders and renders == sorted(
        p.relative_to(spread) for p in (spread / "derivation").rglob("*.png")
    )


class _Losing(InlineExecutor):
    """In this process, but every item of ``victim`` comes back lost, as after a worker died
    on it also when retried alone."""

    def __init__(self, victim: Callable[..., Any]) -> None:
        super().__init__()
        self.victim = victim

    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        on_lost: Callable[[T, Lost], R],
        init: WorkerInit | None = None,
        on_error: Callable[[T, Exception], R] | None = None,
    ) -> Iterator[R]:
        if fn is not self.victim:
            return super().map(fn, items, on_lost=on_lost, init=init, on_error=on_error)
        return (on_lost(item, Lost(Code.WORKER_LOST, "died")) for item in items)


def test_a_lost_pair_check_is_recorded_and_the_pass_goes_on(
    scanned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _copy(scanned, tmp_path, "lost_pairs")
    monkeypatch.setattr(link_pass, "make_executor", lambda kind, n, *a: _Losing(verify_chunk))
    outcome = _link(case, workers=1)
    assert outcome.verified_now > 0 and outcome.related_pairs == 0 and outcome.links == 0
    pairs = _rows(case)["derivation_pairs"]
    with sqlite3.connect(case / "case.sqlite") as db:
        payloads = [json.loads(p) for (p,) in db.execute("SELECT payload FROM derivation_pairs")]
    assert len(payloads) == len(pairs) == outcome.verified_now
    assert {p["error"] for p in payloads} == {"worker_lost: died"}


def test_a_lost_feature_extraction_is_a_feature_error(
    scanned: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _copy(scanned, tmp_path, "lost_features")
    losing = _Losing(link_pass._features_of)
    monkeypatch.setattr(link_pass, "make_executor", lambda kind, n, *a: losing)
    outcome = _link(case, workers=1)
    assert outcome.images == outcome.new_features == outcome.feature_errors == 6
    assert outcome.links == 0
