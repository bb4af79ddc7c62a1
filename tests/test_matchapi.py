"""The matching service's /v1 API and the shell's edges (auth, limits, error shape) through the
HTTP stack (FastAPI TestClient; the real-uvicorn tests are tests/test_service_*.py).

Harmless synthetic pictures only; the explicit classifier is a stand-in at its seam."""

from __future__ import annotations

import concurrent.futures
import io
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from PIL import Image, ImageOps

from consentry.analyzers import explicit as explicit_mod
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.matchapi.app import create_app
from consentry.services.matching.packs import make_pack
from consentry.services.matching.service import open_service
from consentry.services.matching.types import Caller, ServiceRole

from .matchapi_support import Api, assert_error, flip_bits, jpeg, random_pdq, real_api
from .stand_ins import FixedScorer
from .synthetic import photo_like, write_jpeg


class NoFaces:
    """Face-analyzer stand-in for pack building: synthetic photos have no face."""

    recognizer_sha256 = "0" * 64

    def analyze(self, *_args: object, **_kwargs: object) -> SimpleNamespace:
        return SimpleNamespace(error=None, faces=())


PDQ_A = random_pdq(11)
MD5_A = "0123456789abcdef0123456789abcdef"
SHA_A = "ab" * 32


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with real_api(tmp_path) as made:
        yield made


def _bank(api: Api, name: str = "V1_BANK", **extra: Any) -> dict[str, Any]:
    resp = api.post("/v1/banks", json={"name": name, **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _item(api: Api, bank: str, *signals: tuple[str, str], **extra: Any) -> dict[str, Any]:
    body = {"signals": [{"signal_type": t, "value": v} for t, v in signals], **extra}
    resp = api.post(f"/v1/banks/{bank}/content", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


# ---------------------------------------------------------------- banks and content


def test_v1_banks_crud(api: Api) -> None:
    created = _bank(api, "SHARED", matching_enabled_ratio=0.5)
    assert created["name"] == "SHARED" and created["matching_enabled_ratio"] == 0.5
    assert created["kind"] == "hash" and created["content_count"] == 0
    assert_error(api.post("/v1/banks", json={"name": "SHARED"}), 409, "bank_exists")
    assert_error(api.post("/v1/banks", json={"name": "x", "bogus": 1}), 400, "bad_request")
    assert [b["name"] for b in api.get("/v1/banks").json()] == ["SHARED", "VICTIM_PACKS"]
    patched = api.patch("/v1/banks/SHARED", json={"rename": "RENAMED", "enabled": False})
    assert patched.json()["name"] == "RENAMED" and patched.json()["enabled"] is False
    assert_error(api.get("/v1/banks/SHARED"), 404, "unknown_bank")
    assert api.delete("/v1/banks/RENAMED").status_code == 204
    assert_error(api.delete("/v1/banks/RENAMED"), 404, "unknown_bank")
    assert_error(api.post("/v1/banks", json={"name": "M"}, role=ServiceRole.MATCHER), 403)


def test_v1_content_crud_and_exact_banks(api: Api) -> None:
    _bank(api, "EXACT")
    item = _item(api, "EXACT", ("md5", MD5_A.upper()), ("sha256", SHA_A), metadata={"case": "7"})
    assert [s["value"] for s in item["signals"]] == [MD5_A, SHA_A]
    assert item["metadata"] == {"case": "7"} and item["enabled"] is True
    url = f"/v1/banks/EXACT/content/{item['id']}"
    assert api.get(url).json() == item
    patched = api.patch(url, json={"enabled": False, "note": "held"})
    assert patched.json()["enabled"] is False and patched.json()["note"] == "held"
    assert api.delete(url).status_code == 204
    assert_error(api.get(url), 404, "not_found")
    bad = {"signals": [{"signal_type": "md5", "value": "xyz"}]}
    assert (
        "signals[0]" in assert_error(api.post("/v1/banks/EXACT/content", json=bad), 400)["message"]
    )


def test_v1_lookup_batch_of_1000(api: Api) -> None:
    _bank(api, "BATCH")
    pdq_item = _item(api, "BATCH", ("pdq", PDQ_A), metadata={"source": "report 12"})
    md5_item = _item(api, "BATCH", ("md5", MD5_A))
    queries = [{"signal_type": "pdq", "value": random_pdq(1000 + i)} for i in range(998)]
    queries.insert(10, {"signal_type": "pdq", "value": flip_bits(PDQ_A, 5)})
    queries.append({"signal_type": "md5", "value": MD5_A})
    resp = api.post("/v1/lookup", json={"signals": queries}, role=ServiceRole.MATCHER)
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert len(results) == 1000
    hits = {i: r["matches"] for i, r in enumerate(results) if r["matches"]}
    assert set(hits) == {10, 999}
    assert hits[10] == [
        {
            "signal_type": "pdq",
            "bank": "BATCH",
            "content_id": pdq_item["id"],
            "distance": 5,
            "matched_value": PDQ_A,
            "metadata": {"source": "report 12"},
        }
    ]
    assert hits[999][0]["content_id"] == md5_item["id"] and hits[999][0]["distance"] == 0
    tight = api.post("/v1/lookup", json={"signals": queries[10:11], "threshold": 4})
    assert tight.json()["results"][0]["matches"] == []
    too_many = api.post("/v1/lookup", json={"signals": queries + queries[:1]})
    assert_error(too_many, 400, "bad_request")
    bad = [*queries[:5], {"signal_type": "pdq", "value": "g" * 64}]
    body = assert_error(api.post("/v1/lookup", json={"signals": bad}), 400, "bad_hash")
    assert body["message"].startswith("signals[5]")
    assert_error(api.post("/v1/lookup", json={"signals": []}), 400)


def test_v1_match_hashes_and_matches_in_one_call_mirrored_too(api: Api) -> None:
    _bank(api, "UPLOADS")
    data = jpeg(21, 240, 180)
    hashed = api.post("/h/hash", files={"photo": ("a.jpg", data, "image/jpeg")}).json()
    item = _item(api, "UPLOADS", ("pdq", hashed["pdq"]), metadata={"ticket": "T-1"})
    resp = api.post(
        "/v1/match", content=data, headers={"Content-Type": "image/jpeg"}, role=ServiceRole.MATCHER
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["hashes"]["pdq"] == hashed["pdq"] and body["hashes"]["md5"] == hashed["md5"]
    assert len(body["hashes"]["pdq_dihedral"]) == 8
    assert body["matches"][0]["content_id"] == item["id"]
    assert body["matches"][0]["distance"] == 0 and body["matches"][0]["metadata"] == {
        "ticket": "T-1"
    }
    assert [r["signal_type"] for r in body["results"]] == ["pdq", "md5", "sha256"]

    buf = io.BytesIO()
    ImageOps.mirror(photo_like(21, 240, 180)).save(buf, "JPEG", quality=90)
    mirrored = api.post("/v1/match", files={"file": ("m.jpg", buf.getvalue(), "image/jpeg")})
    assert mirrored.status_code == 200, mirrored.text
    found = mirrored.json()["matches"]
    assert [m["content_id"] for m in found] == [item["id"]] and found[0]["distance"] <= 31
    other = api.post("/v1/match", content=jpeg(99), headers={"Content-Type": "image/jpeg"})
    assert other.json()["matches"] == []
    assert_error(
        api.post("/v1/match", content=b"not a picture", headers={"Content-Type": "image/png"}), 422
    )
    assert_error(api.post("/v1/match", json={"x": 1}), 415, "bad_content_type")


def test_v1_import_export(api: Api) -> None:
    _bank(api, "IMPORTED")
    pdq_b = random_pdq(12)
    lines = f"pdq {PDQ_A}\npdq {pdq_b}\npdq nothex\n".encode()
    resp = api.post(
        "/v1/banks/IMPORTED/import",
        params={"format": "pytx"},
        content=lines,
        headers={"Content-Type": "text/plain"},
    )
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["added"] == 2 and len(result["skipped"]) == 1 and "line 3" in result["skipped"][0]
    exported = api.get("/v1/banks/IMPORTED/export", params={"format": "pytx"})
    assert exported.headers["content-type"].startswith("text/plain")
    assert exported.text.split("\n")[:2] == [f"pdq {PDQ_A}", f"pdq {pdq_b}"]
    csv = api.get("/v1/banks/IMPORTED/export", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and PDQ_A in csv.text
    assert_error(api.get("/v1/banks/IMPORTED/export", params={"format": "xml"}), 400)
    # what export writes, import reads back (format sniffed): one item per content id
    _bank(api, "COPY")
    back = api.post(
        "/v1/banks/COPY/import", content=csv.content, headers={"Content-Type": "text/csv"}
    )
    assert back.status_code == 200, back.text
    assert (back.json()["added"], back.json()["skipped"]) == (2, [])
    copied = api.get("/v1/banks/COPY/export", params={"format": "pytx"}).text
    assert copied == exported.text
    wrong_type = api.post(
        "/v1/banks/IMPORTED/import", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert_error(wrong_type, 415)
    assert_error(
        api.post("/v1/banks/NOPE/import", content=lines, headers={"Content-Type": "text/plain"}),
        404,
    )


def test_v1_screen_blocks_a_banked_upload_and_echoes_no_image(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explicit_mod, "load_explicit", lambda: ExplicitAnalyzer(FixedScorer(0.01)))
    _bank(api, "KNOWN")
    data = jpeg(31, 240, 180)
    hashed = api.post("/h/hash", files={"photo": ("a.jpg", data, "image/jpeg")}).json()
    _item(api, "KNOWN", ("pdq", hashed["pdq"]))
    resp = api.post("/v1/screen", content=data, headers={"Content-Type": "image/jpeg"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {
        "decision",
        "reasons",
        "hashes",
        "matches",
        "explicit_label",
        "explicit_score",
        "faces",
    }
    assert body["decision"] == "block" and body["reasons"]
    assert body["explicit_label"] == "neutral"
    assert len(resp.content) < len(data)  # hashes, labels and scores only: never the upload
    clean = api.post("/v1/screen", content=jpeg(32), headers={"Content-Type": "image/jpeg"})
    assert clean.json()["decision"] == "allow"


def test_v1_pack_persons_and_withdrawal(api: Api, tmp_path: Path) -> None:
    """A victim's pack sealed on the device to GET /v1/pack-key, taken in by an advocate,
    matched (a mirrored copy too), listed for its advocate only, and withdrawn."""
    public_key = api.get("/v1/pack-key", role=ServiceRole.ADVOCATE).json()["public_key"]
    photos = [
        write_jpeg(tmp_path / "mine" / f"{n}.jpg", 40 + n, width=240, height=180) for n in (1, 2)
    ]
    consent = tmp_path / "consent.json"
    consent.write_text(
        json.dumps(
            {
                "consented_by": "the person pictured",
                "consented_at": "2026-11-30",
                "scope": "block intimate images of me on platforms using this service",
                "recorded_by": "the person pictured",
            }
        )
    )
    blob = make_pack(photos, public_key, consent, face_analyzer=NoFaces()).blob
    octet = {"Content-Type": "application/octet-stream"}
    assert_error(api.post("/v1/packs", content=blob, headers=octet, role=ServiceRole.CURATOR), 403)
    assert_error(api.post("/v1/packs", content=b"\x00" * 100, headers=octet), 422, "bad_pack")
    assert_error(api.post("/v1/packs", json={"pack": "x"}), 415)
    resp = api.post("/v1/packs", content=blob, headers=octet, role=ServiceRole.ADVOCATE)
    assert resp.status_code == 200, resp.text
    imported = resp.json()
    assert imported["bank"] == "VICTIM_PACKS" and imported["added"] == 2
    person_id = imported["person_id"]
    mine = api.get("/v1/persons", role=ServiceRole.ADVOCATE).json()
    assert [p["id"] for p in mine] == [person_id] and mine[0]["contents"] == 2

    buf = io.BytesIO()
    ImageOps.mirror(Image.open(photos[0])).save(buf, "JPEG", quality=85)
    mirrored = buf.getvalue()
    octet_jpeg = {"Content-Type": "image/jpeg"}
    found = api.post("/v1/match", content=mirrored, headers=octet_jpeg).json()["matches"]
    assert found and found[0]["bank"] == "VICTIM_PACKS"

    # another advocate sees none of it and cannot withdraw it
    other = api.post("/v1/keys", json={"role": "advocate", "name": "other helpline"}).json()
    other_auth = {"Authorization": f"Bearer {other['token']}"}
    assert api.client.get("/v1/persons", headers=other_auth).json() == []
    assert_error(api.client.delete(f"/v1/persons/{person_id}", headers=other_auth), 404)
    assert_error(api.delete(f"/v1/persons/{person_id}", role=ServiceRole.MATCHER), 403)

    # an advocate adds hashes for its own person, to the pack bank only
    extra = {"signals": [{"signal_type": "md5", "value": MD5_A}], "person_id": person_id}
    added = api.post("/v1/banks/VICTIM_PACKS/content", json=extra, role=ServiceRole.ADVOCATE)
    assert added.status_code == 201, added.text
    _bank(api, "PLATFORM")
    elsewhere = api.post("/v1/banks/PLATFORM/content", json=extra, role=ServiceRole.ADVOCATE)
    assert_error(elsewhere, 403, "forbidden")

    gone = api.delete(f"/v1/persons/{person_id}", role=ServiceRole.ADVOCATE)
    assert gone.status_code == 200, gone.text
    assert gone.json()["person_id"] == person_id and gone.json()["contents_deleted"] == 3
    assert gone.json()["signals_deleted"] >= 2
    assert api.post("/v1/match", content=mirrored, headers=octet_jpeg).json()["matches"] == []
    assert api.get("/v1/persons", role=ServiceRole.ADVOCATE).json() == []
    actions = [a["action"] for a in api.get("/v1/audit", params={"limit": 200}).json()]
    assert any("withdraw" in a for a in actions), actions


def test_v1_audit_index_and_keys(api: Api) -> None:
    _bank(api)
    api.post("/v1/lookup", json={"signals": [{"signal_type": "pdq", "value": PDQ_A}]})
    audit = api.get("/v1/audit", params={"limit": 5}).json()
    assert len(audit) == 5 and [a["seq"] for a in audit] == sorted(
        (a["seq"] for a in audit), reverse=True
    )
    assert audit[0]["action"] == "lookups" and audit[0]["hash"]  # one event per call, batched
    assert_error(api.get("/v1/audit", role=ServiceRole.CURATOR), 403)
    sizes = {s["signal_type"]: s["size"] for s in api.get("/v1/index/status").json()}
    assert set(sizes) == {"pdq", "md5", "sha256"}

    new = api.post("/v1/keys", json={"role": "matcher", "name": "platform-x"})
    assert new.status_code == 201
    token, key_id = new.json()["token"], new.json()["key"]["id"]
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/index/status", headers=auth).status_code == 200
    assert_error(api.client.get("/v1/keys", headers=auth), 403)
    assert any(k["name"] == "platform-x" for k in api.get("/v1/keys").json())
    assert api.delete(f"/v1/keys/{key_id}").status_code == 204
    assert_error(api.client.get("/v1/index/status", headers=auth), 401)


# ---------------------------------------------------------------- the shell's edges


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    with real_api(tmp_path, rate_per_minute=3) as api:
        answers = [api.get("/v1/banks") for _ in range(8)]
    statuses = [r.status_code for r in answers]
    assert 200 in statuses and statuses[-1] == 429, statuses
    resp = answers[-1]
    assert_error(resp, 429, "rate_limited")
    assert resp.headers["retry-after"] == "20"  # one request's worth of a 3-a-minute bucket


def test_body_over_the_keys_limit_is_413_by_content_length(tmp_path: Path) -> None:
    with real_api(tmp_path, max_body_bytes=2000) as api:
        headers = {"Content-Type": "image/jpeg"}
        resp = api.post("/v1/match", content=b"\xff" * 5000, headers=headers)
        body = assert_error(resp, 413, "too_large")
        assert "2000" in body["message"]
        small = api.post("/v1/lookup", json={"signals": [{"signal_type": "pdq", "value": PDQ_A}]})
        assert small.status_code == 200


def test_streamed_body_is_cut_off_at_the_limit_before_it_is_all_read(tmp_path: Path) -> None:
    """No Content-Length (chunked): the guard counts bytes as they arrive and answers 413
    as soon as the count passes the limit; the rest of the body is never pulled."""
    service = open_service(tmp_path / "home", start_sync=False)
    token = service.add_key(Caller.local(), ServiceRole.ADMIN, "t", max_body_bytes=10_000).token
    app = create_app(service)
    chunks = [b"\xff" * 1000] * 100  # 100 kB in 1 kB pieces
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > len(chunks):
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": chunks[pulled - 1],
            "more_body": pulled < len(chunks),
        }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/match",
        "raw_path": b"/v1/match",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"image/jpeg"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    async def run() -> None:
        async with anyio.create_task_group():
            await app(scope, receive, send)  # type: ignore[arg-type]

    # on a thread of its own: an earlier test (Playwright's sync API in the browser tests)
    # may have left an event loop running in this one, and anyio.run refuses to nest
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(anyio.run, run).result(timeout=60)
    finally:
        service.close()
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [413]
    assert pulled <= 12  # 10 kB limit: cut off at the 11th kilobyte, not after 100


def test_wrong_content_type_is_415_and_bad_json_400(api: Api) -> None:
    _bank(api)
    resp = api.post("/v1/banks", content=b"name=X", headers={"Content-Type": "text/plain"})
    assert_error(resp, 415, "bad_content_type")
    broken = api.post(
        "/v1/banks", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert_error(broken, 400, "bad_request")
    assert_error(api.post("/c/banks", content=b"x", headers={"Content-Type": "text/csv"}), 415)


def test_unknown_paths_and_methods_have_the_error_shape(api: Api) -> None:
    assert_error(api.get("/v1/nothing-here"), 404, "not_found")
    assert_error(api.put("/v1/lookup", json={}), 405, "method_not_allowed")
    assert_error(api.get("/v1/banks/X/content/notanumber"), 400, "bad_request")


def test_openapi_documents_auth_and_errors_on_every_route(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert "bearer" in str(doc["components"]["securitySchemes"]).lower()
    public = {"/status", "/status/live"}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            if path in public:
                assert "security" not in op
                continue
            assert op.get("security"), (method, path)
            for status in ("400", "401", "403", "429"):
                assert status in op["responses"], (method, path, status)
    for route in (
        "/h/hash",
        "/m/lookup",
        "/m/raw_lookup",
        "/m/compare",
        "/m/index/status",
        "/c/banks",
        "/c/bank/{bank_name}",
        "/c/bank/{bank_name}/signal",
        "/c/bank/{bank_name}/content",
        "/c/bank/{bank_name}/content/{content_id}",
        "/v1/match",
        "/v1/lookup",
        "/v1/screen",
        "/v1/packs",
        "/v1/persons/{person_id}",
    ):
        assert route in doc["paths"], route


def test_app_from_env_opens_the_service_home_and_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn's factory for --workers: the home from the environment, the service closed
    when the app shuts down."""
    from fastapi.testclient import TestClient

    from consentry.matchapi.app import app_from_env

    home = tmp_path / "env-home"
    with open_service(home, start_sync=False) as first:
        token = first.add_key(Caller.local(), ServiceRole.CURATOR, "env").token
        first.create_bank(Caller.local(), "FROM_ENV")
    monkeypatch.setenv("CONSENTRY_SERVICE_HOME", str(home))
    monkeypatch.delenv("CONSENTRY_SERVICE_DB", raising=False)
    app = app_from_env()
    with TestClient(app) as client:
        names = client.get("/c/banks", headers={"Authorization": f"Bearer {token}"}).json()
        assert {"name": "FROM_ENV", "matching_enabled_ratio": 1.0} in names
    assert app.state.service._closed is True
    monkeypatch.delenv("CONSENTRY_SERVICE_HOME")
    with pytest.raises(SystemExit):
        app_from_env()
