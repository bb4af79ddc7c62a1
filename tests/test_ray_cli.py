"""``--executor ray`` from the command line: a scan and ``links`` on a local Ray instance the
command starts itself (and stops: no Ray process outlives it), the summary naming the Ray
workers; and the misuse a shell must refuse before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import RunCli
from .synthetic import write_jpeg

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")


def _evidence(root: Path) -> Path:
    for i in range(6):
        write_jpeg(root / "ev" / f"img{i}.jpg", seed=40 + i, width=160, height=120)
    return root / "ev"


def test_scan_and_links_on_a_local_ray_instance(run_cli: RunCli, tmp_path: Path) -> None:
    evidence = _evidence(tmp_path)
    done = run_cli(
        "scan", evidence, "--case", tmp_path / "case", "--executor", "ray", "--workers", "2",
        "--json", "-q", timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["executor"], summary["workers"], summary["images"]) == ("ray", 2, 6)
    assert summary["pending"] == 0
    links = run_cli(
        "links", "--case", tmp_path / "case", "--executor", "ray", "--workers", "1", "--json",
        timeout=240,
    )  # fmt: skip
    assert links.returncode == 0, links.stderr
    assert json.loads(links.stdout)["images"] == 6
    audit = run_cli("audit", "show", "--case", tmp_path / "case", "--json")
    events = json.loads(audit.stdout)["events"]
    started = [e for e in events if e["action"] == "scan_started"]
    assert started and started[0]["payload"]["executor"] == "ray"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray-address", "head:6379"], "--ray-address needs --executor ray"),
        (["--executor", "dask"], "Invalid value for '--executor'"),
        (
            ["--executor", "ray", "--ray-address", "127.0.0.1:1"],
            "cannot start or reach the Ray cluster at 127.0.0.1:1",
        ),
    ],
)
def test_misuse_is_one_error_before_anything_is_written(
    run_cli: RunCli, tmp_path: Path, args: list[str], message: str
) -> None:
    evidence = _evidence(tmp_path)
    done = run_cli("scan", evidence, "--case", tmp_path / "case", *args, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert not (tmp_path / "case").exists()


def test_without_an_address_a_local_instance_starts_even_beside_a_running_cluster(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """``ray.init(address=None)`` would join (or, asked for CPUs, fail on) the cluster whose
    address file ``ray start --head`` leaves; without --ray-address the scan starts its own."""
    from .ray_support import ray_cluster

    evidence = _evidence(tmp_path)
    with ray_cluster(nodes=1, cpus_per_node=1):
        done = run_cli(
            "scan", evidence, "--case", tmp_path / "case", "--executor", "ray", "--workers", "2",
            "--no-links", "--json", "-q", timeout=240,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["workers"] == 2  # its own 2 CPUs, not the cluster's one
