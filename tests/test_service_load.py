"""A bounded load test on loopback: ``consentry service --workers 2`` (SQLite) with a bank of
random PDQ hashes, and a second process (tests/service_load.py) that for a fixed time keeps a
few connections busy with batch lookups (near copies of stored hashes that must match at their
distance, random hashes that must not) and inserts. Asserted: no errors, no wrong answer, and
every hash inserted during the load is matched afterwards (on whichever worker answers).
Throughput and p50 / p99 are printed, never asserted (a shared 2-core machine).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .service_server import ServiceServer, running_service, service_cli

pytest.importorskip("consentry.services.matching.service", reason="part 2 not built yet")

SEEDS = 2000
SECONDS = float(os.environ.get("CONSENTRY_LOAD_SECONDS", "12"))
CONNECTIONS = 4
BATCH = 100
SCRIPT = Path(__file__).with_name("service_load.py")


def all_present(server: ServiceServer, inserted: list[list[object]]) -> list[str]:
    """The inserted hashes a lookup (threshold 0) does not find with their content id."""
    missing: list[str] = []
    with server.client() as client:
        for start in range(0, len(inserted), 1000):
            chunk = inserted[start : start + 1000]
            answer = client.post(
                "/v1/lookup",
                json={
                    "signals": [{"signal_type": "pdq", "value": v} for v, _ in chunk],
                    "threshold": 0,
                },
            )
            assert answer.status_code == 200, answer.text
            for (value, content_id), result in zip(chunk, answer.json()["results"], strict=True):
                if content_id not in {m["content_id"] for m in result["matches"]}:
                    missing.append(str(value))
    return missing


def test_a_bounded_load_from_another_process_has_no_errors_and_loses_no_insert(
    tmp_path: Path,
) -> None:
    rng = random.Random(15)
    seeds = [f"{rng.getrandbits(256):064x}" for _ in range(SEEDS)]
    home = tmp_path / "home"
    (tmp_path / "seeds.txt").write_text("\n".join(seeds) + "\n")
    (tmp_path / "seeds.pytx").write_text("".join(f"pdq {s}\n" for s in seeds))
    made = service_cli(home, "import", "LOAD", tmp_path / "seeds.pytx", "--create")
    assert made.returncode == 0 and f"{SEEDS} items" in made.stdout, made.stdout + made.stderr

    with running_service(home, workers=2) as server:
        out = tmp_path / "load.json"
        load = subprocess.run(
            [sys.executable, str(SCRIPT), "--url", server.base_url, "--token", server.admin_token,
             "--bank", "LOAD", "--seeds", str(tmp_path / "seeds.txt"), "--seconds", str(SECONDS),
             "--connections", str(CONNECTIONS), "--batch", str(BATCH), "--insert-every", "10",
             "--out", str(out)],
            capture_output=True, text=True, timeout=SECONDS + 60,
        )  # fmt: skip
        assert load.returncode == 0, load.stderr
        report = json.loads(out.read_text())
        figures = {k: v for k, v in report.items() if k not in ("inserted", "pid")}
        print(f"\nload ({CONNECTIONS} connections, 2 workers, SQLite): {json.dumps(figures)}")
        assert report["pid"] != os.getpid()
        assert report["errors"] == 0, report["samples"]
        assert report["wrong"] == 0, report["samples"]
        assert report["lookup_requests"] > 0 and report["inserts"] > 0, figures

        deadline = time.monotonic() + 10
        missing = all_present(server, report["inserted"])
        while missing and time.monotonic() < deadline:
            time.sleep(0.5)
            missing = all_present(server, report["inserted"])
        assert missing == [], f"{len(missing)} of {report['inserts']} inserts not found"

    banks = json.loads(service_cli(home, "bank", "list", "--json").stdout)
    (bank,) = [b for b in banks if b["name"] == "LOAD"]
    assert bank["content_count"] == SEEDS + report["inserts"]
