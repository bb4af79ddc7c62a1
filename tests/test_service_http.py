"""``consentry service`` through a real uvicorn on loopback (SQLite): keys and roles, bad input
answered 4xx and never stored, per-key body and rate limits, a key disabled by the CLI refused
by the running server, the OpenAPI document. ``--workers 2`` on SQLite: test_service_load.py;
on PostgreSQL: test_service_postgres.py.

HMA's own shapes per route are tested in test_matchapi.py (part 3) against a stand-in; here
everything goes through the installed command, the real service and its database.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from .service_server import ServiceServer, add_key, running_service, service_cli

pytest.importorskip("consentry.services.matching.service", reason="part 2 not built yet")

VISIBLE_WITHIN_S = 10.0
PDQ = "d5efe5124b36dc7618c2b9c5778222fd7089f38dd6690c58a974c60c7e3491c3"
TEXT = {"Content-Type": "text/plain"}
JPEG = {"Content-Type": "image/jpeg"}
NOT_JPEG = b"\xff\xd8\xff\xe0 not a JPEG"
HMA_PATHS = (
    "/status", "/h/hash", "/m/lookup", "/m/raw_lookup", "/m/compare", "/m/index/status",
    "/c/banks", "/c/bank/{bank_name}", "/c/bank/{bank_name}/signal",
    "/c/bank/{bank_name}/content", "/c/bank/{bank_name}/content/{content_id}",
)  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceServer]:
    with running_service(tmp_path_factory.mktemp("http") / "home") as s:
        yield s


def fresh(server: ServiceServer, token: str | None = None) -> httpx.Client:
    return server.client(token)


def http_key(server: ServiceServer, role: str, name: str, **limits: int) -> tuple[int, str]:
    """A key made by the admin over ``POST /v1/keys`` (faster than the CLI): (id, token)."""
    with fresh(server) as admin:
        made = admin.post("/v1/keys", json={"role": role, "name": name, **limits})
    assert made.status_code == 201, made.text
    return int(made.json()["key"]["id"]), str(made.json()["token"])


def error_of(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"error", "message"} and "\n" not in body["message"], body
    return str(body["error"])


def test_only_status_and_the_openapi_document_answer_without_a_key(server: ServiceServer) -> None:
    status = httpx.get(f"{server.base_url}/status")
    assert status.status_code == 200 and status.text == "I-AM-ALIVE"
    document = httpx.get(f"{server.base_url}/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert set(HMA_PATHS) <= set(paths), sorted(set(HMA_PATHS) - set(paths))
    assert "/v1/lookup" in paths and "/v1/match" in paths

    for headers in ({}, {"Authorization": "Bearer cs_000000000000_" + "x" * 43}):
        refused = httpx.get(f"{server.base_url}/c/banks", headers=headers)
        assert refused.status_code == 401 and error_of(refused) == "unauthenticated"


def test_each_role_does_only_its_part(server: ServiceServer) -> None:
    matcher = add_key(server.home, "matcher", "pipeline")  # the CLI, as an operator would
    _, curator = http_key(server, "curator", "trust-safety")
    with fresh(server, curator) as c:
        assert c.post("/c/banks", json={"name": "ROLES"}).status_code == 201
        added = c.post("/c/bank/ROLES/signal", json={"pdq": PDQ})
        assert added.status_code == 200 and added.json()["signals"] == {"pdq": PDQ}, added.text
        forbidden = c.get("/v1/keys")
        assert forbidden.status_code == 403 and error_of(forbidden) == "forbidden"
    with fresh(server, matcher) as m:
        found = m.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ})
        assert found.status_code == 200 and found.json()["matches"] == [added.json()["id"]]
        for refused in (
            m.post("/c/banks", json={"name": "MINE"}),
            m.post("/c/bank/ROLES/signal", json={"pdq": PDQ}),
            m.delete("/c/bank/ROLES"),
            m.get("/v1/audit"),
        ):
            assert refused.status_code == 403 and error_of(refused) == "forbidden", refused.text
    with fresh(server) as admin:
        keys = admin.get("/v1/keys").json()
        assert {"pipeline", "trust-safety", "test-admin"} <= {k["name"] for k in keys}


def test_bad_input_is_answered_4xx_with_its_reason_and_never_stored(server: ServiceServer) -> None:
    with fresh(server) as c:
        c.post("/c/banks", json={"name": "STRICT"})
        before = c.get("/v1/banks/STRICT").json()["content_count"]
        cases = [
            (c.post("/c/bank/STRICT/signal", json={"pdq": "not hex"}), 400, "bad_hash"),
            (c.post("/c/bank/STRICT/signal", json={"pdq": PDQ[:-2]}), 400, "bad_hash"),
            (c.post("/c/bank/STRICT/signal", json={"pdq": "0" * 64}), 400, "zero_hash"),
            (c.post("/c/bank/STRICT/signal", json={"md5": "g" * 32}), 400, "bad_hash"),
            (
                c.post(
                    "/v1/banks/STRICT/content",
                    json={"signals": [{"signal_type": "pdq", "value": PDQ, "quality": 10}]},
                ),
                400,
                "low_quality",
            ),
            (c.post("/c/bank/NO_SUCH/signal", json={"pdq": PDQ}), 404, "unknown_bank"),
            (c.post("/v1/lookup", content=f"pdq {PDQ}", headers=TEXT), 415, "bad_content_type"),
            (c.post("/v1/match", content=NOT_JPEG, headers=JPEG), 422, "bad_image"),
            (c.get("/m/lookup", params={"signal_type": "pdq", "signal": "zz"}), 400, "bad_hash"),
        ]  # fmt: skip
        for answer, status, code in cases:
            assert (answer.status_code, error_of(answer)) == (status, code), answer.text
        assert c.get("/v1/banks/STRICT").json()["content_count"] == before


def test_a_body_over_the_keys_limit_is_413_and_a_fast_caller_is_429(
    server: ServiceServer,
) -> None:
    _, token = http_key(server, "matcher", "tiny", max_body_bytes=2000, rate_per_minute=5)
    signals = [{"signal_type": "pdq", "value": PDQ}] * 40  # ~3 kB of JSON
    with fresh(server, token) as c:
        big = c.post("/v1/lookup", json={"signals": signals})
        assert big.status_code == 413 and error_of(big) == "too_large", big.text
        answers = [
            c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": PDQ}) for _ in range(8)
        ]
    codes = [a.status_code for a in answers]
    assert 429 in codes and codes[0] != 429, codes
    assert {error_of(a) for a in answers if a.status_code == 429} == {"rate_limited"}


def test_a_key_the_cli_disables_is_refused_by_the_running_server_within_10_s(
    server: ServiceServer,
) -> None:
    token = add_key(server.home, "matcher", "leaving")
    with fresh(server, token) as c:
        assert c.get("/m/index/status").status_code == 200  # verified, so cached
        key_id = next(
            k["id"] for k in fresh(server).get("/v1/keys").json() if k["name"] == "leaving"
        )
        done = service_cli(server.home, "key", "disable", str(key_id))
        assert done.returncode == 0, done.stderr
        start = time.monotonic()
        while c.get("/m/index/status").status_code == 200:
            assert time.monotonic() - start < VISIBLE_WITHIN_S + 2, "still accepted"
            time.sleep(0.25)
        print(f"\ndisabled key refused after {time.monotonic() - start:.1f} s")
