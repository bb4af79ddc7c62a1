"""HMA-shape tests: one per HMA 1.x route, asserting the answer's keys and types as HMA's own
code returns them (facebook/ThreatExchange, hasher-matcher-actioner/src/OpenMediaMatch: the
file is named in each test), so an HMA client works unchanged against consentry. Harmless
synthetic pictures only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentry.services.matching.types import ServiceRole

from .matchapi_support import Api, assert_error, flip_bits, jpeg, random_pdq, real_api

PDQ_A = random_pdq(1)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with real_api(tmp_path) as made:
        yield made


def _bank(api: Api, name: str = "HMA_BANK") -> str:
    resp = api.post("/c/banks", json={"name": name})
    assert resp.status_code == 201, resp.text
    return name


def _hma_banks(api: Api) -> list[dict[str, object]]:
    """The banks an HMA client made (consentry's VICTIM_PACKS bank is always there)."""
    return [b for b in api.get("/c/banks").json() if b["name"] != "VICTIM_PACKS"]


def _photo(seed: int = 3) -> dict[str, tuple[str, bytes, str]]:
    return {"photo": ("picture.jpg", jpeg(seed), "image/jpeg")}


def test_status_is_hmas_plain_text_and_needs_no_key(api: Api) -> None:
    # app.py `status`: "I-AM-ALIVE", 200 (503 "INDEX-NOT-LOADED" before an index is up)
    resp = api.client.get("/status")
    assert resp.status_code == 200
    assert resp.text == "I-AM-ALIVE"
    assert resp.headers["content-type"].startswith("text/plain")
    assert api.client.get("/status/live").text == "I-AM-ALIVE"


def test_every_other_route_needs_a_bearer_key(api: Api) -> None:
    # HMA has no auth of its own; consentry's keys are the difference (docs/service.md)
    for path in ("/c/banks", "/m/index/status", "/v1/banks"):
        resp = api.client.get(path)
        assert_error(resp, 401, "unauthenticated")
        assert resp.headers["www-authenticate"] == "Bearer"
        bad = api.client.get(path, headers={"Authorization": "Bearer cs_nope_nope"})
        assert_error(bad, 401, "unauthenticated")
        basic = api.client.get(path, headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert_error(basic, 401, "unauthenticated")
    assert api.client.get("/openapi.json").status_code == 200


def test_h_hash_get_with_a_url_is_refused_offline(api: Api) -> None:
    # blueprints/hashing.py `hash_media` fetches the URL; consentry never fetches (offline)
    resp = api.get("/h/hash", params={"url": "https://example.org/a.jpg"})
    body = assert_error(resp, 400, "bad_request")
    assert "offline" in body["message"] and "photo" in body["message"]
    assert_error(api.get("/h/hash"), 400)  # url is required, as in HMA's HashRequest


def test_h_hash_post_returns_signal_type_to_hash(api: Api) -> None:
    # blueprints/hashing.py `hash_media_post`: {signal_type_name: hash_str}, field = "photo"
    resp = api.post("/h/hash", files=_photo())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"pdq", "md5", "sha256"}
    assert all(isinstance(v, str) for v in body.values())
    assert len(body["pdq"]) == 64 and len(body["md5"]) == 32 and len(body["sha256"]) == 64
    only = api.post("/h/hash", params={"types": "pdq"}, files=_photo())
    assert only.json() == {"pdq": body["pdq"]}
    assert_error(api.post("/h/hash", params={"types": "video_md5"}, files=_photo()), 400)
    video = api.post("/h/hash", files={"video": ("v.mp4", b"\x00" * 64, "video/mp4")})
    assert "video" in assert_error(video, 400)["message"]
    assert_error(
        api.post("/h/hash", files={"photo": ("x.jpg", b"not an image", "image/jpeg")}), 422
    )
    assert_error(api.post("/h/hash", content=b"{}", headers={"Content-Type": "text/plain"}), 415)


def test_c_banks_create_and_list_shape(api: Api) -> None:
    # blueprints/curation.py `bank_create` (201, pytx BankConfig jsonified) and `banks_index`
    pack_bank = {"name": "VICTIM_PACKS", "matching_enabled_ratio": 1.0}  # consentry's own
    assert api.get("/c/banks").json() == [pack_bank]
    resp = api.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert resp.status_code == 201
    assert resp.json() == {"matching_enabled_ratio": 1.0, "name": "MY_TEST_BANK_01"}
    assert api.get("/c/banks").json() == [resp.json(), pack_bank]
    assert_error(api.post("/c/banks", json={"name": "01 bad name!"}), 400, "bad_request")
    again = api.post("/c/banks", json={"name": "MY_TEST_BANK_01"})
    assert_error(again, 403, "bank_exists")  # HMA: 403 "Bank already exists"
    half = api.post("/c/banks", json={"name": "HALF", "enabled_ratio": 0.5})
    assert half.json() == {"name": "HALF", "matching_enabled_ratio": 0.5}
    off = api.post("/c/banks", json={"name": "OFF", "enabled": False})
    assert off.json() == {"name": "OFF", "matching_enabled_ratio": 0.0}
    assert_error(api.post("/c/banks", json={"name": "X"}, role=ServiceRole.MATCHER), 403)


def test_c_bank_get_put_delete_shape(api: Api) -> None:
    # curation.py `bank_show_by_name`, `bank_update`, `bank_delete` ({"message": "Done"})
    _bank(api, "MY_TEST_BANK")
    assert api.get("/c/bank/MY_TEST_BANK").json() == {
        "name": "MY_TEST_BANK",
        "matching_enabled_ratio": 1.0,
    }
    renamed = api.put("/c/bank/MY_TEST_BANK", json={"name": "MY_TEST_BANK_RENAMED"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "MY_TEST_BANK_RENAMED"
    off = api.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled": False})
    assert off.json()["matching_enabled_ratio"] == 0
    half = api.put("/c/bank/MY_TEST_BANK_RENAMED", json={"enabled_ratio": 0.5})
    assert half.json()["matching_enabled_ratio"] == 0.5
    assert _hma_banks(api) == [{"name": "MY_TEST_BANK_RENAMED", "matching_enabled_ratio": 0.5}]
    assert_error(api.get("/c/bank/NO_SUCH_BANK"), 404, "unknown_bank")
    assert_error(api.put("/c/bank/NO_SUCH_BANK", json={"enabled": True}), 404)
    assert api.delete("/c/bank/MY_TEST_BANK_RENAMED").json() == {"message": "Done"}
    assert api.delete("/c/bank/MY_TEST_BANK_RENAMED").json() == {"message": "Done"}  # as HMA
    assert _hma_banks(api) == []


def test_c_bank_signal_adds_by_hash(api: Api) -> None:
    # curation.py `bank_add_as_signals` -> `_bank_add_signals`: {"id", "signals"}, 200
    _bank(api)
    resp = api.post("/c/bank/HMA_BANK/signal", json={"pdq": PDQ_A.upper(), "note": "n1"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"id", "signals"} and isinstance(body["id"], int)
    assert body["signals"] == {"pdq": PDQ_A}  # stored lowercase
    assert_error(api.post("/c/bank/HMA_BANK/signal", json={"pdq": "banana"}), 400, "bad_hash")
    assert_error(api.post("/c/bank/HMA_BANK/signal", json={"pdq": "0" * 64}), 400, "zero_hash")
    assert_error(api.post("/c/bank/HMA_BANK/signal", json={"note": "x"}), 400)
    assert_error(api.post("/c/bank/HMA_BANK/signal", json={"nope": PDQ_A}), 400)
    assert_error(api.post("/c/bank/NO_BANK/signal", json={"pdq": PDQ_A}), 404)
    assert_error(api.post("/c/bank/HMA_BANK/signal", json=["pdq"]), 400)


def test_c_bank_content_upload_and_item_shape(api: Api) -> None:
    # curation.py `bank_add_content` ({"id", "signals"}) and `bank_get_content`
    _bank(api)
    meta = {"content_id": "1197433091", "content_uri": "https://x.test/1", "json": {"k": 1}}
    resp = api.post(
        "/c/bank/HMA_BANK/content",
        files=_photo(),
        data={"metadata": json.dumps(meta), "note": "Reported by user X"},
    )
    assert resp.status_code == 200, resp.text
    added = resp.json()
    assert set(added) == {"id", "signals"} and "pdq" in added["signals"]
    cid = added["id"]

    got = api.get(f"/c/bank/HMA_BANK/content/{cid}").json()
    assert set(got) == {"id", "disable_until_ts", "original_media_uri", "bank", "metadata", "note"}
    assert got["id"] == cid and got["disable_until_ts"] == 1 and got["original_media_uri"] is None
    assert got["bank"] == {"name": "HMA_BANK", "matching_enabled_ratio": 1.0}
    assert got["metadata"] == meta and got["note"] == "Reported by user X"
    with_signals = api.get(
        f"/c/bank/HMA_BANK/content/{cid}", params={"include_signals": "true"}
    ).json()
    assert with_signals["signals"] == added["signals"]
    bare = api.get(f"/c/bank/HMA_BANK/content/{cid}", params={"include_metadata": "false"}).json()
    assert "metadata" not in bare and "signals" not in bare

    assert_error(api.post("/c/bank/HMA_BANK/content", params={"url": "https://x.test/a.jpg"}), 400)
    assert_error(api.post("/c/bank/HMA_BANK/content"), 400)
    bad_meta = api.post(
        "/c/bank/HMA_BANK/content", files=_photo(), data={"metadata": '{"invalid_metadata": 5}'}
    )
    assert_error(bad_meta, 400)
    assert_error(api.get("/c/bank/HMA_BANK/content/99999"), 404, "not_found")
    assert_error(api.get("/c/bank/NO_BANK/content/1"), 404, "unknown_bank")


def test_c_bank_content_put_and_delete_shape(api: Api) -> None:
    # curation.py `bank_update_content` (BankContentConfig jsonified), `bank_delete_content`
    _bank(api)
    cid = api.post("/c/bank/HMA_BANK/signal", json={"pdq": PDQ_A}).json()["id"]
    resp = api.put(f"/c/bank/HMA_BANK/content/{cid}", json={"disable_until_ts": 0, "note": "x"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {
        "id",
        "disable_until_ts",
        "collab_metadata",
        "original_media_uri",
        "bank",
        "user_metadata",
        "note",
    }
    assert body["disable_until_ts"] == 0 and body["note"] == "x"
    # disabled content no longer matches; enabled again it does
    assert api.get("/m/raw_lookup", params={"signal": PDQ_A, "signal_type": "pdq"}).json() == {
        "matches": []
    }
    api.put(f"/c/bank/HMA_BANK/content/{cid}", json={"disable_until_ts": 1})
    assert api.get("/m/raw_lookup", params={"signal": PDQ_A, "signal_type": "pdq"}).json() == {
        "matches": [cid]
    }
    too_far = api.put(f"/c/bank/HMA_BANK/content/{cid}", json={"disable_until_ts": 9999999999})
    assert_error(too_far, 400)
    assert_error(api.put(f"/c/bank/HMA_BANK/content/{cid}", json={"disable_until_ts": -5}), 400)
    assert api.delete(f"/c/bank/HMA_BANK/content/{cid}").json() == {"deleted": 1}
    assert api.delete(f"/c/bank/HMA_BANK/content/{cid}").json() == {"deleted": 0}


def test_m_raw_lookup_shape(api: Api) -> None:
    # blueprints/matching.py `raw_lookup`: {"matches": [ids]} or [{bank_content_id, distance}]
    _bank(api, "BANK_A")
    _bank(api, "BANK_B")
    a = api.post("/c/bank/BANK_A/signal", json={"pdq": PDQ_A}).json()["id"]
    b = api.post("/c/bank/BANK_B/signal", json={"pdq": flip_bits(PDQ_A, 9)}).json()["id"]
    query = {"signal": PDQ_A, "signal_type": "pdq"}
    assert api.get("/m/raw_lookup", params=query).json() == {"matches": [a, b]}
    with_distance = api.get("/m/raw_lookup", params={**query, "include_distance": "true"})
    assert with_distance.json() == {
        "matches": [
            {"bank_content_id": a, "distance": "0"},
            {"bank_content_id": b, "distance": "9"},
        ]
    }
    only_b = api.get("/m/raw_lookup", params={**query, "banks": "BANK_B"})
    assert only_b.json() == {"matches": [b]}
    far = api.get("/m/raw_lookup", params={"signal": random_pdq(999), "signal_type": "pdq"})
    assert far.json() == {"matches": []}
    assert_error(api.get("/m/raw_lookup", params={"signal": "zz", "signal_type": "pdq"}), 400)
    assert_error(api.get("/m/raw_lookup", params={"signal": PDQ_A, "signal_type": "x"}), 400)
    assert_error(api.get("/m/raw_lookup"), 400)


def test_m_lookup_get_shape(api: Api) -> None:
    # matching.py `lookup_get` with signal_type: {bank: [{bank_content_id, distance: str}]}
    _bank(api, "BANK_A")
    _bank(api, "BANK_C")
    a = api.post("/c/bank/BANK_A/signal", json={"pdq": PDQ_A}).json()["id"]
    c = api.post("/c/bank/BANK_C/signal", json={"pdq": flip_bits(PDQ_A, 3)}).json()["id"]
    query = {"signal": PDQ_A, "signal_type": "pdq"}
    resp = api.get("/m/lookup", params=query, role=ServiceRole.MATCHER)
    assert resp.status_code == 200
    assert resp.json() == {
        "BANK_A": [{"bank_content_id": a, "distance": "0"}],
        "BANK_C": [{"bank_content_id": c, "distance": "3"}],
    }
    assert set(api.get("/m/lookup", params={**query, "banks": "BANK_C"}).json()) == {"BANK_C"}
    # HMA ignores an unknown name in banks= (and answers {}); consentry says so: a typo in a
    # bank filter must not look like "no match"
    assert_error(api.get("/m/lookup", params={**query, "banks": "BANK_TYPO"}), 404, "unknown_bank")
    refused = api.get("/m/lookup", params={"url": "https://x.test/a.jpg"})
    assert "offline" in assert_error(refused, 400)["message"]
    assert_error(api.get("/m/lookup", params={"signal": PDQ_A}), 400)


def test_m_lookup_post_shape(api: Api) -> None:
    # matching.py `lookup_post`: {signal_type: {bank: [{bank_content_id, distance}]}}
    _bank(api)
    cid = api.post("/c/bank/HMA_BANK/content", files=_photo(5)).json()["id"]
    resp = api.post("/m/lookup", files=_photo(5), role=ServiceRole.MATCHER)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"pdq", "md5", "sha256"}
    assert body["pdq"] == {"HMA_BANK": [{"bank_content_id": cid, "distance": "0"}]}
    assert body["md5"] == {"HMA_BANK": [{"bank_content_id": cid, "distance": "0"}]}
    other = api.post("/m/lookup", files=_photo(77)).json()
    assert other["md5"] == {} and other["sha256"] == {}


def test_m_compare_shape(api: Api) -> None:
    # matching.py `compare` and HMA's test_api.py test_compare_hashes
    specimen1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
    specimen2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"
    resp = api.post("/m/compare", json={"pdq": [specimen1, specimen2]})
    assert resp.status_code == 200
    assert resp.json() == {"pdq": [True, {"distance": 9}]}
    for bad in (
        ["banana"],
        {"pdq": "banana"},
        {"pdq": []},
        {"pdq": ["banana", "banana"]},
        {"pdq": [specimen1, specimen2, specimen1]},
    ):
        assert_error(api.post("/m/compare", json=bad), 400)
    md5 = api.post("/m/compare", json={"md5": ["a" * 32, "A" * 32]})
    assert md5.json() == {"md5": [True, {"distance": 0}]}


def test_m_index_status_shape(api: Api) -> None:
    # matching.py `index_status`: {signal_type: {"present", "built_to", "size"}}
    _bank(api)
    api.post("/c/bank/HMA_BANK/signal", json={"pdq": PDQ_A})
    body = api.get("/m/index/status").json()
    assert set(body) >= {"pdq"}
    for status in body.values():
        assert set(status) == {"present", "built_to", "size"}
        assert isinstance(status["present"], bool)
        assert isinstance(status["built_to"], int) and isinstance(status["size"], int)
    assert body["pdq"]["size"] == 1 and body["pdq"]["present"] is True
    only = api.get("/m/index/status", params={"signal_type": "pdq"}).json()
    assert set(only) == {"pdq"}
    assert_error(api.get("/m/index/status", params={"signal_type": "video_md5"}), 400)


def test_hma_end_to_end_workflow_with_pytx_examples(api: Api) -> None:
    # HMA's own tests/test_e2e_workflow.py, step by step, against consentry (plus the key)
    from threatexchange.signal_type.pdq.signal import PdqSignal

    _bank(api, "TEST_BANK")
    hashes = PdqSignal.get_examples()
    ids = []
    for pdq in hashes:
        resp = api.post("/c/bank/TEST_BANK/signal", json={"pdq": pdq})
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()["id"])
    build_info = api.get("/m/index/status?signal_type=pdq").json()["pdq"]
    assert build_info["present"] is True and build_info["size"] == len(hashes)
    resp = api.get(f"/m/lookup?signal_type=pdq&signal={hashes[-1]}", role=ServiceRole.MATCHER)
    assert resp.json() == {"TEST_BANK": [{"bank_content_id": ids[-1], "distance": "0"}]}
    assert api.get("/m/lookup?signal_type=pdq&signal={}".format("5" * 64)).json() == {}
