"""The matching service's core (issue 15 part 2): validation, banks, content, lookups, roles,
keys, withdrawal, audit, secrets. Through ``open_service`` on a temporary SQLite home; no HTTP.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from consentry.services.matching.service import PACK_BANK, MatchingService, open_service
from consentry.services.matching.sync import sample
from consentry.services.matching.types import (
    Caller,
    MatchErrorCode,
    MatchServiceError,
    ServiceRole,
    Signal,
    SignalType,
)
from consentry.services.matching.validate import parse_signal

OP = Caller.local()
RNG = np.random.default_rng(15)


def rand_pdq(rng: np.random.Generator = RNG) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip(hex_: str, bits: int, start: int = 0) -> str:
    """The hash with ``bits`` bits flipped (distinct positions from ``start``)."""
    value = int(hex_, 16)
    for b in range(start, start + bits):
        value ^= 1 << (b * 7 % 256)
    return f"{value:064x}"


def pdq(hex_: str) -> Signal:
    return parse_signal("pdq", hex_)


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[MatchingService]:
    s = open_service(tmp_path / "home", start_sync=False)
    try:
        yield s
    finally:
        s.close()


def raises(code: MatchErrorCode, fn, *args, **kwargs) -> MatchServiceError:  # type: ignore[no-untyped-def]
    with pytest.raises(MatchServiceError) as info:
        fn(*args, **kwargs)
    assert info.value.code is code, info.value.message
    assert "\n" not in info.value.message
    return info.value


def count(svc: MatchingService, table: str) -> int:
    db = svc.home / "service.sqlite"
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# -- validation -------------------------------------------------------------------------------


def test_parse_signal_normalises_and_refuses_bad_hashes() -> None:
    h = rand_pdq()
    assert parse_signal("PDQ", h.upper()) == Signal(SignalType.PDQ, h)
    assert parse_signal("md5", "AB" * 16).value == "ab" * 16
    raises(MatchErrorCode.BAD_HASH, parse_signal, "pdq", h[:-1])
    raises(MatchErrorCode.BAD_HASH, parse_signal, "pdq", h[:-1] + "g")
    raises(MatchErrorCode.BAD_HASH, parse_signal, "md5", h)  # a sha256-long value
    raises(MatchErrorCode.BAD_HASH, parse_signal, "sha256", "a" * 32)
    raises(MatchErrorCode.ZERO_HASH, parse_signal, "pdq", "0" * 64)
    raises(MatchErrorCode.ZERO_HASH, parse_signal, "pdq", "F" * 64)
    raises(MatchErrorCode.LOW_QUALITY, parse_signal, "pdq", h, 49)
    assert parse_signal("pdq", h, 50).quality == 50
    raises(MatchErrorCode.BAD_REQUEST, parse_signal, "video_md5", "a" * 32)
    raises(MatchErrorCode.BAD_REQUEST, parse_signal, "pdq", h, 101)


def test_bad_input_is_never_stored(svc: MatchingService) -> None:
    svc.create_bank(OP, "B")
    before = (count(svc, "bank_content"), count(svc, "signals"), count(svc, "service_audit"))
    h = rand_pdq()
    good = pdq(h)
    for bad in (
        Signal(SignalType.PDQ, "0" * 64),
        Signal(SignalType.PDQ, h[:60]),
        Signal(SignalType.PDQ, "z" * 64),
        Signal(SignalType.PDQ, h, 10),
    ):
        with pytest.raises(MatchServiceError):
            svc.add_content(OP, "B", [good, bad])
    raises(MatchErrorCode.UNKNOWN_BANK, svc.add_content, OP, "NOPE", [good])
    raises(MatchErrorCode.BAD_REQUEST, svc.add_content, OP, "B", [])
    raises(MatchErrorCode.BAD_REQUEST, svc.create_bank, OP, "bad name!")
    raises(MatchErrorCode.BAD_REQUEST, svc.add_content, OP, "B", [good], metadata={"k": 1})
    after = (count(svc, "bank_content"), count(svc, "signals"), count(svc, "service_audit"))
    assert after == before
    assert svc.lookup(OP, [good])[0].matches == ()


# -- banks and content ------------------------------------------------------------------------


def test_banks_follow_hma_names_and_lifecycle(svc: MatchingService) -> None:
    bank = svc.create_bank(OP, "my_bank", matching_enabled_ratio=0.5)
    assert (bank.name, bank.matching_enabled_ratio, bank.kind) == ("MY_BANK", 0.5, "hash")
    raises(MatchErrorCode.BANK_EXISTS, svc.create_bank, OP, "MY_BANK")
    svc.add_content(OP, "my_bank", [pdq(rand_pdq())])
    assert svc.get_bank(OP, "MY_BANK").content_count == 1
    renamed = svc.update_bank(OP, "MY_BANK", rename="OTHER", enabled=False)
    assert (renamed.name, renamed.enabled) == ("OTHER", False)
    raises(MatchErrorCode.UNKNOWN_BANK, svc.get_bank, OP, "MY_BANK")
    assert [b.name for b in svc.list_banks(OP)] == ["OTHER", PACK_BANK]
    svc.delete_bank(OP, "OTHER")
    assert count(svc, "signals") == 0
    raises(MatchErrorCode.BAD_REQUEST, svc.delete_bank, OP, PACK_BANK)


def test_content_get_update_delete(svc: MatchingService) -> None:
    svc.create_bank(OP, "A")
    svc.create_bank(OP, "B")
    h = rand_pdq()
    c = svc.add_content(OP, "A", [pdq(h)], note="seen", metadata={"source": "x"})
    assert svc.get_content(OP, "A", c.id) == c
    raises(MatchErrorCode.NOT_FOUND, svc.get_content, OP, "B", c.id)  # in another bank
    raises(MatchErrorCode.NOT_FOUND, svc.get_content, OP, "A", c.id + 1)
    changed = svc.update_content(OP, "A", c.id, metadata={"source": "y"}, note="again")
    assert changed.metadata == (("source", "y"),) and changed.note == "again"
    assert svc.lookup(OP, [pdq(h)])[0].matches[0].metadata == (("source", "y"),)
    svc.update_content(OP, "A", c.id, enabled=False)
    assert svc.lookup(OP, [pdq(h)])[0].matches == ()
    svc.update_content(OP, "A", c.id, enabled=True)
    assert len(svc.lookup(OP, [pdq(h)])[0].matches) == 1
    svc.delete_content(OP, "A", c.id)
    assert svc.lookup(OP, [pdq(h)])[0].matches == ()
    raises(MatchErrorCode.NOT_FOUND, svc.delete_content, OP, "A", c.id)


# -- lookups ----------------------------------------------------------------------------------


def test_lookup_best_first_one_per_content_minimum_over_its_signals(
    svc: MatchingService,
) -> None:
    svc.create_bank(OP, "A")
    svc.create_bank(OP, "B")
    base = rand_pdq()
    # content 1 holds two variants, at 9 and at 2 bits from the query: it answers 2, once
    near = svc.add_content(OP, "A", [pdq(flip(base, 9)), pdq(flip(base, 2, 40))])
    mid = svc.add_content(OP, "B", [pdq(flip(base, 5, 80))])
    far = svc.add_content(OP, "A", [pdq(flip(base, 31, 120))])
    svc.add_content(OP, "A", [pdq(flip(base, 32, 120))])  # beyond 31: never
    [result] = svc.lookup(OP, [pdq(base)])
    assert [(m.content_id, m.distance, m.bank) for m in result.matches] == [
        (near.id, 2, "A"),
        (mid.id, 5, "B"),
        (far.id, 31, "A"),
    ]
    assert result.matches[0].matched_value == flip(base, 2, 40)
    assert result.query == base
    [tight] = svc.lookup(OP, [pdq(base)], threshold=5)
    assert [m.content_id for m in tight.matches] == [near.id, mid.id]
    [only_b] = svc.lookup(OP, [pdq(base)], banks=["b"])
    assert [m.content_id for m in only_b.matches] == [mid.id]
    raises(MatchErrorCode.UNKNOWN_BANK, svc.lookup, OP, [pdq(base)], banks=["NOPE"])
    raises(MatchErrorCode.BAD_REQUEST, svc.lookup, OP, [pdq(base)], threshold=32)


def test_lookup_answers_each_query_in_order_up_to_1000(svc: MatchingService) -> None:
    svc.create_bank(OP, "A")
    stored = [rand_pdq() for _ in range(50)]
    ids = [svc.add_content(OP, "A", [pdq(h)]).id for h in stored]
    queries = [pdq(flip(stored[i % 50], i % 20)) for i in range(1000)]
    results = svc.lookup(OP, queries)
    assert len(results) == 1000
    for i, r in enumerate(results):
        assert r.query == queries[i].value
        assert [m.content_id for m in r.matches] == [ids[i % 50]]
        assert r.matches[0].distance == i % 20
    raises(MatchErrorCode.BAD_REQUEST, svc.lookup, OP, queries + queries[:1])
    raises(MatchErrorCode.ZERO_HASH, svc.lookup, OP, [Signal(SignalType.PDQ, "0" * 64)])
    # hand-built signals are checked too, a whole batch at once or one by one
    upper = [Signal(SignalType.PDQ, h.upper()) for h in stored[:3]]
    assert [r.query for r in svc.lookup(OP, upper)] == stored[:3]
    assert all(r.matches for r in svc.lookup(OP, upper))
    for bad in ("z" * 64, stored[0][:62] + "  ", " " + stored[0][:63], stored[0][:-2]):
        raises(MatchErrorCode.BAD_HASH, svc.lookup, OP, [*upper, Signal(SignalType.PDQ, bad)])
    mixed = svc.lookup(OP, [*upper[:1], parse_signal("md5", "ab" * 16)])
    assert mixed[0].matches and mixed[1].matches == ()


def test_exact_banks_match_md5_and_sha256_only_exactly(svc: MatchingService) -> None:
    svc.create_bank(OP, "EXACT")
    md5, sha = "ab" * 16, "cd" * 32
    c = svc.add_content(OP, "EXACT", [parse_signal("md5", md5), parse_signal("sha256", sha)])
    hit_md5, miss, hit_sha = svc.lookup(
        OP,
        [
            parse_signal("md5", md5.upper()),
            parse_signal("md5", "ab" * 15 + "ac"),
            parse_signal("sha256", sha),
        ],
    )
    assert [(m.content_id, m.distance) for m in hit_md5.matches] == [(c.id, 0)]
    assert miss.matches == ()
    assert hit_sha.matches[0].signal_type is SignalType.SHA256
    assert svc.compare(parse_signal("md5", md5), parse_signal("md5", md5)) == 0
    assert svc.compare(parse_signal("md5", md5), parse_signal("md5", "ab" * 15 + "ac")) == 256
    h = rand_pdq()
    assert svc.compare(pdq(h), pdq(flip(h, 13))) == 13
    raises(MatchErrorCode.BAD_REQUEST, svc.compare, pdq(h), parse_signal("md5", md5))


def test_disabled_bank_and_ratio_sample(svc: MatchingService) -> None:
    svc.create_bank(OP, "HALF", matching_enabled_ratio=0.5)
    base = rand_pdq()
    ids = np.asarray(
        [svc.add_content(OP, "HALF", [pdq(flip(base, 1, 3 * i))]).id for i in range(60)]
    )
    [r] = svc.lookup(OP, [pdq(base)])
    got = sorted(m.content_id for m in r.matches)
    expected = sorted(ids[sample(ids) < 0.5].tolist())
    assert got == expected and 10 < len(got) < 50  # the documented sample, not all or none
    assert sorted(m.content_id for m in svc.lookup(OP, [pdq(base)])[0].matches) == got
    svc.update_bank(OP, "HALF", matching_enabled_ratio=1.0)
    assert len(svc.lookup(OP, [pdq(base)])[0].matches) == 60
    svc.update_bank(OP, "HALF", matching_enabled_ratio=0.0)
    assert svc.lookup(OP, [pdq(base)])[0].matches == ()
    svc.update_bank(OP, "HALF", matching_enabled_ratio=1.0, enabled=False)
    assert svc.lookup(OP, [pdq(base)])[0].matches == ()
    assert svc.index_status()[0].size == 60  # disabling a bank costs no index change


# -- roles ------------------------------------------------------------------------------------


def key_caller(svc: MatchingService, role: ServiceRole, name: str) -> Caller:
    return svc.authenticate(svc.add_key(OP, role, name).token)


def test_roles_gate_every_method(svc: MatchingService) -> None:
    matcher = key_caller(svc, ServiceRole.MATCHER, "m")
    curator = key_caller(svc, ServiceRole.CURATOR, "c")
    advocate = key_caller(svc, ServiceRole.ADVOCATE, "a")
    h = rand_pdq()
    raises(MatchErrorCode.FORBIDDEN, svc.create_bank, matcher, "X")
    raises(MatchErrorCode.FORBIDDEN, svc.list_banks, matcher)
    raises(MatchErrorCode.FORBIDDEN, svc.create_bank, advocate, "X")
    svc.create_bank(curator, "X")
    c = svc.add_content(curator, "X", [pdq(h)])
    raises(MatchErrorCode.FORBIDDEN, svc.add_content, matcher, "X", [pdq(h)])
    raises(MatchErrorCode.FORBIDDEN, svc.export_bank, matcher, "X")
    raises(MatchErrorCode.FORBIDDEN, svc.import_hashes, matcher, "X", b"not even parsed")
    assert svc.lookup(matcher, [pdq(h)])[0].matches[0].content_id == c.id
    raises(MatchErrorCode.FORBIDDEN, svc.add_key, curator, ServiceRole.ADMIN, "me")
    raises(MatchErrorCode.FORBIDDEN, svc.list_keys, curator)
    raises(MatchErrorCode.FORBIDDEN, svc.add_person, curator, "p", '{"consent": true}')
    raises(MatchErrorCode.FORBIDDEN, svc.add_person, matcher, "p", '{"consent": true}')
    raises(MatchErrorCode.FORBIDDEN, svc.audit_log, curator)


def test_advocate_acts_for_its_own_persons_only(svc: MatchingService) -> None:
    a1 = key_caller(svc, ServiceRole.ADVOCATE, "a1")
    a2 = key_caller(svc, ServiceRole.ADVOCATE, "a2")
    svc.create_bank(OP, "PUBLIC")
    p1 = svc.add_person(a1, "victim-1", '{"consent": "yes"}')
    p2 = svc.add_person(a2, "victim-2", '{"consent": "yes"}')
    h = rand_pdq()
    emb = RNG.standard_normal(128).astype(np.float32)
    svc.add_face_template(a1, p1.id, emb, "sface")
    raises(MatchErrorCode.NOT_FOUND, svc.add_face_template, a1, p2.id, emb, "sface")
    raises(MatchErrorCode.NOT_FOUND, svc.withdraw_person, a1, p2.id)
    raises(MatchErrorCode.NOT_FOUND, svc.add_content, a1, PACK_BANK, [pdq(h)], person_id=p2.id)
    raises(MatchErrorCode.FORBIDDEN, svc.add_content, a1, "PUBLIC", [pdq(h)], person_id=p1.id)
    raises(MatchErrorCode.BAD_REQUEST, svc.add_content, a1, PACK_BANK, [pdq(h)])
    svc.add_content(a1, PACK_BANK, [pdq(h)], person_id=p1.id, origin="pack")
    r = svc.import_hashes(a1, PACK_BANK, f"pdq {rand_pdq()}\n".encode(), person_id=p1.id)
    assert (r.added, r.person_id) == (1, p1.id)
    assert [p.id for p in svc.list_persons(a1)] == [p1.id]
    assert [p.id for p in svc.list_persons(OP)] == [p1.id, p2.id]
    assert svc.list_persons(a1)[0].templates == 1 and svc.list_persons(a1)[0].contents == 2
    [(pid, label, got)] = svc.face_templates()
    assert (pid, label) == (p1.id, "victim-1") and np.array_equal(got, emb)
    raises(MatchErrorCode.BAD_REQUEST, svc.add_face_template, a1, p1.id, np.zeros(128), "sface")


def test_withdrawal_deletes_templates_and_hashes_everywhere_audited(
    svc: MatchingService,
) -> None:
    adv = key_caller(svc, ServiceRole.ADVOCATE, "adv")
    person = svc.add_person(adv, "p", '{"consent": "yes"}')
    other = svc.add_person(adv, "q", '{"consent": "yes"}')
    h, kept = rand_pdq(), rand_pdq()
    svc.add_content(
        adv,
        PACK_BANK,
        [pdq(h), pdq(flip(h, 3)), parse_signal("md5", "12" * 16)],
        person_id=person.id,
    )
    svc.add_content(adv, PACK_BANK, [pdq(kept)], person_id=other.id)
    svc.add_face_template(adv, person.id, RNG.standard_normal(128), "sface")
    assert len(svc.lookup(OP, [pdq(h)])[0].matches) == 1
    result = svc.withdraw_person(adv, person.id)
    assert (result.contents_deleted, result.signals_deleted, result.templates_deleted) == (1, 3, 1)
    assert svc.lookup(OP, [pdq(h), parse_signal("md5", "12" * 16)])[0].matches == ()
    assert svc.lookup(OP, [parse_signal("md5", "12" * 16)])[0].matches == ()
    assert len(svc.lookup(OP, [pdq(kept)])[0].matches) == 1
    assert svc.face_templates() == []
    assert [p.id for p in svc.list_persons(OP)] == [other.id]
    with sqlite3.connect(svc.home / "service.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM signals WHERE value = ?", (h,)).fetchone()[0] == 0
        removes = conn.execute("SELECT count(*) FROM signal_changes WHERE op='remove'").fetchone()
    assert removes[0] == 3
    event = next(e for e in svc.audit_log(OP) if e.action == "person_withdrawn")
    assert event.payload == {"person_id": person.id, "contents": 1, "signals": 3, "templates": 1}
    raises(MatchErrorCode.NOT_FOUND, svc.withdraw_person, adv, person.id)


# -- keys -------------------------------------------------------------------------------------


def test_keys_are_shown_once_hashed_and_disabled(svc: MatchingService) -> None:
    new = svc.add_key(OP, ServiceRole.MATCHER, "platform", rate_per_minute=5)
    assert new.token.startswith(f"cs_{new.info.prefix}_")
    with sqlite3.connect(svc.home / "service.sqlite") as conn:
        stored = conn.execute("SELECT secret_hash FROM api_keys").fetchone()[0]
    secret = new.token.split("_", 2)[2]
    assert stored.startswith("$argon2id$") and secret not in stored
    caller = svc.authenticate(new.token)
    assert (caller.key_id, caller.role, caller.rate_per_minute) == (
        new.info.id,
        ServiceRole.MATCHER,
        5,
    )
    assert svc.authenticate(f"  {new.token} ") == caller
    tampered = new.token[:-1] + ("A" if new.token[-1] != "A" else "B")
    raises(MatchErrorCode.UNAUTHENTICATED, svc.authenticate, tampered)
    raises(MatchErrorCode.UNAUTHENTICATED, svc.authenticate, None)
    raises(MatchErrorCode.UNAUTHENTICATED, svc.authenticate, "Bearer nonsense")
    [info] = svc.list_keys(OP)
    assert info.name == "platform" and info.disabled_at is None
    svc.disable_key(OP, new.info.id)
    raises(MatchErrorCode.UNAUTHENTICATED, svc.authenticate, new.token)
    raises(MatchErrorCode.NOT_FOUND, svc.disable_key, OP, new.info.id)


def test_rate_limit_is_a_token_bucket_per_key(svc: MatchingService) -> None:
    slow = svc.authenticate(svc.add_key(OP, ServiceRole.MATCHER, "s", rate_per_minute=3).token)
    fast = svc.authenticate(svc.add_key(OP, ServiceRole.MATCHER, "f", rate_per_minute=0).token)
    for _ in range(3):
        svc.check_rate(slow)
    raises(MatchErrorCode.RATE_LIMITED, svc.check_rate, slow)
    for _ in range(100):
        svc.check_rate(fast)  # 0: no limit
    svc.check_rate(OP)


# -- audit ------------------------------------------------------------------------------------


def test_every_change_is_audited_and_lookups_carry_no_hash(svc: MatchingService) -> None:
    svc.create_bank(OP, "A")
    h = rand_pdq()
    c = svc.add_content(OP, "A", [pdq(h)])
    for _ in range(3):
        svc.lookup(OP, [pdq(h), pdq(rand_pdq())])
    svc.export_bank(OP, "A", "csv")
    svc.import_hashes(OP, "A", f"pdq {rand_pdq()}\nbad line\n".encode(), "pytx")
    svc.delete_content(OP, "A", c.id)
    svc.record(OP, "screened", {"decision": "allow"})
    raises(MatchErrorCode.BAD_REQUEST, svc.record, OP, "x", {"value": object()})
    raises(MatchErrorCode.BAD_REQUEST, svc.record, OP, "", {})
    log = svc.audit_log(OP, 50)
    actions = [e.action for e in reversed(log)]
    # the three lookups are one event, written when the log is read (audit.py)
    assert actions == [
        "bank_created",  # the pack bank, at open
        "bank_created",
        "content_added",
        "export",
        "import",
        "content_deleted",
        "screened",
        "lookups",
    ]
    lookups = [e for e in log if e.action == "lookups"]
    assert sum(int(e.payload["calls"]) for e in lookups) == 3  # type: ignore[call-overload]
    assert sum(int(e.payload["queries"]) for e in lookups) == 6  # type: ignore[call-overload]
    assert sum(int(e.payload["matches"]) for e in lookups) == 3  # type: ignore[call-overload]
    assert all(h not in str(e.payload) for e in log)
    imp = next(e for e in log if e.action == "import")
    assert (imp.payload["contents"], imp.payload["skipped"], imp.payload["bank"]) == (1, 1, "A")
    ok, message = svc.verify_audit()
    assert ok, message


def test_audit_chain_detects_an_edited_event(svc: MatchingService) -> None:
    svc.create_bank(OP, "A")
    svc.create_bank(OP, "B")
    assert svc.verify_audit()[0]
    with sqlite3.connect(svc.home / "service.sqlite") as conn:
        conn.execute(
            "UPDATE service_audit SET payload_json = replace(payload_json, 'A', 'Z') WHERE seq=2"
        )
    ok, message = svc.verify_audit()
    assert not ok and "event 2" in message
    with sqlite3.connect(svc.home / "service.sqlite") as conn:
        conn.execute(
            "UPDATE service_audit SET payload_json = replace(payload_json, 'Z', 'A') WHERE seq=2"
        )
        conn.execute("DELETE FROM service_audit WHERE seq=2")
    ok, message = svc.verify_audit()
    assert not ok and "broken" in message


# -- secrets ----------------------------------------------------------------------------------


def test_home_secrets_are_private_and_stable(tmp_path: Path) -> None:
    from nacl.public import PublicKey, SealedBox

    home = tmp_path / "home"
    with open_service(home, start_sync=False) as svc:
        key = svc.pack_public_key()
        blob = SealedBox(PublicKey(__import__("base64").b64decode(key))).encrypt(b"pack body")
        assert svc.open_sealed(blob) == b"pack body"
        raises(MatchErrorCode.BAD_PACK, svc.open_sealed, blob[:-1] + bytes([blob[-1] ^ 1]))
        raises(MatchErrorCode.BAD_PACK, svc.open_sealed, b"short")
    for name in ("template.key", "pack.key"):
        assert (home / name).stat().st_mode & 0o777 == 0o600
    with open_service(home, start_sync=False) as again:
        assert again.pack_public_key() == key
        assert again.open_sealed(blob) == b"pack body"
    other = SealedBox(PublicKey(os.urandom(32))).encrypt(b"x")
    with open_service(tmp_path / "other", start_sync=False) as svc2:
        assert svc2.pack_public_key() != key
        raises(MatchErrorCode.BAD_PACK, svc2.open_sealed, blob)
        raises(MatchErrorCode.BAD_PACK, svc2.open_sealed, other)


def test_the_sync_thread_survives_a_failing_tick(tmp_path: Path) -> None:
    import time

    from consentry.services.matching.sync import SyncThread

    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 1:
            raise OSError("database briefly away")

    thread = SyncThread(0.02, tick)
    thread.start()
    deadline = time.monotonic() + 5
    while len(ticks) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.stop()
    assert len(ticks) >= 3 and thread.errors == 1
    assert "database briefly away" in thread.last_error


def test_a_service_that_cannot_start_says_so_in_one_line(tmp_path: Path) -> None:
    """An unreachable database or an unusable home is SERVICE_UNUSABLE (503), one line, so a
    shell tells it apart from a bug without importing SQLAlchemy."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the home should be\n")
    with pytest.raises(MatchServiceError) as home_err:
        open_service(blocker / "home", start_sync=False)
    with pytest.raises(MatchServiceError) as db_err:
        open_service(
            tmp_path / "h", "sqlite:////nonexistent-dir/x/service.sqlite", start_sync=False
        )
    for err in (home_err.value, db_err.value):
        assert err.code is MatchErrorCode.SERVICE_UNUSABLE
        assert err.http_status == 503
        assert "\n" not in err.message and err.message.startswith("the service cannot start")
