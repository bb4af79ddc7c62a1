"""``consentry service`` on PostgreSQL for real: two "hosts" (two server processes, one of
them with ``--workers 2``) and the CLI share one database. What one writes, every worker of
the other matches within 10 s; a deletion likewise; writes from both at once keep the audit
log's hash chain intact.

Needs a server: ``CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DB``
(``.ci/run`` starts one on loopback). Each test gets its own database there, dropped after.
The two hosts share one service home here (its secrets); real hosts get a copy of it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .pg import POSTGRES_SKIP, POSTGRES_URL, postgres_database
from .service_server import (
    ServiceServer,
    add_key,
    closing_client,
    running_service,
    seconds_until_agreed,
    service_cli,
)

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason=POSTGRES_SKIP)
pytest.importorskip("consentry.services.matching.service", reason="part 2 not built yet")

VISIBLE_WITHIN_S = 10.0


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("consentry_service") as url:
        yield url


def random_pdq(rng: random.Random) -> str:
    return f"{rng.getrandbits(256) | 1:064x}"


def test_two_hosts_and_the_cli_share_one_postgresql(tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(7)
    home = tmp_path / "home"
    token = add_key(home, "admin", "ops", db_url=pg_url)
    with (
        running_service(home, db_url=pg_url, workers=2, admin_token=token) as a,
        running_service(home, db_url=pg_url, workers=1, admin_token=token) as b,
    ):
        with closing_client(a) as ca:
            assert ca.post("/c/banks", json={"name": "SHARED"}).status_code == 201
            first = random_pdq(rng)
            added = ca.post("/c/bank/SHARED/signal", json={"pdq": first})
            assert added.status_code == 200, added.text
        a_to_b = seconds_until_agreed(b, first, [added.json()["id"]])

        with closing_client(b) as cb:
            second = random_pdq(rng)
            added_b = cb.post("/c/bank/SHARED/signal", json={"pdq": second})
            assert added_b.status_code == 200, added_b.text
        b_to_a = seconds_until_agreed(a, second, [added_b.json()["id"]])

        # the CLI, a third process, imports into the same database
        third = random_pdq(rng)
        (tmp_path / "more.txt").write_text(f"pdq {third}\n")
        imported = service_cli(home, "import", "SHARED", tmp_path / "more.txt", db_url=pg_url)
        assert imported.returncode == 0 and "1 items" in imported.stdout, imported.stderr
        start = time.monotonic()
        with closing_client(a) as ca:
            while not (
                found := ca.get(
                    "/m/raw_lookup", params={"signal_type": "pdq", "signal": third}
                ).json()["matches"]
            ):
                assert time.monotonic() - start < VISIBLE_WITHIN_S + 5, "CLI import not seen"
                time.sleep(0.2)
        seconds_until_agreed(a, third, found)
        seconds_until_agreed(b, third, found)
        cli_to_hosts = time.monotonic() - start

        # a deletion through B stops A's workers matching
        with closing_client(b) as cb:
            gone = cb.delete(f"/c/bank/SHARED/content/{added.json()['id']}")
            assert gone.status_code == 200 and gone.json() == {"deleted": 1}, gone.text
        deleted = seconds_until_agreed(a, first, [])

        # both hosts written at once: every insert kept, the audit chain intact
        errors: list[str] = []
        ids: list[tuple[str, int]] = []

        def writer(server: ServiceServer, seed: int) -> None:
            local = random.Random(seed)
            with server.client() as client:
                for _ in range(15):
                    value = random_pdq(local)
                    answer = client.post("/c/bank/SHARED/signal", json={"pdq": value})
                    if answer.status_code != 200:
                        errors.append(answer.text)
                    else:
                        ids.append((value, answer.json()["id"]))

        threads = [threading.Thread(target=writer, args=(h, n)) for n, h in enumerate((a, b, a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and len(ids) == 60
        for value, content_id in ids[::7]:
            seconds_until_agreed(b, value, [content_id])
            seconds_until_agreed(a, value, [content_id])

    print(
        f"\nPostgreSQL, host A (2 workers) -> host B: {a_to_b:.1f} s; B -> A: {b_to_a:.1f} s; "
        f"CLI -> both: {cli_to_hosts:.1f} s; a deletion: {deleted:.1f} s"
    )
    assert max(a_to_b, b_to_a, cli_to_hosts, deleted) <= VISIBLE_WITHIN_S
    verified = service_cli(home, "audit", "verify", db_url=pg_url)
    assert verified.returncode == 0, verified.stderr
    banks = json.loads(service_cli(home, "bank", "list", "--json", db_url=pg_url).stdout)
    assert next(b for b in banks if b["name"] == "SHARED")["content_count"] == 2 + 60
