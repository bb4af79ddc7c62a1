"""The service database and keeping indexes in step (issue 15 part 2): schema version, corrupt
rows skipped at build and at replay (never a crash, HMA #1609), the database never on a
lookup's path, two services on one database (an insert through one is found by the other's
sync thread within 10 s, a withdrawal removes it from both), on SQLite and on PostgreSQL.

PostgreSQL: set ``CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DB``
(``.ci/run`` starts a server on loopback); each test gets a fresh database, dropped after.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from consentry.services.matching.service import PACK_BANK, MatchingService, open_service
from consentry.services.matching.types import Caller, ServiceRole
from consentry.services.matching.validate import parse_signal
from consentry.store.bank_schema import SCHEMA_VERSION
from consentry.store.bank_store import SchemaTooNew, open_bank_engine

from .pg import postgres_database

OP = Caller.local()
PG_URL = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="set CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://... to test PostgreSQL",
)


def rand_pdq(rng: np.random.Generator) -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("consentry_bank") as url:
        yield url


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> float:
    """Seconds until ``check()`` held; fails after ``seconds``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not seen within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - start


def test_schema_version_is_written_and_a_newer_database_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    open_bank_engine(url).dispose()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        [(version,)] = conn.execute("SELECT value FROM service_meta WHERE key='schema_version'")
        assert int(version) == SCHEMA_VERSION
        conn.execute(
            "UPDATE service_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(SchemaTooNew):
        open_bank_engine(url)


def insert_raw(db: Path, rows: list[tuple[str, str]], with_changes: bool) -> None:
    """Rows written behind the service's back (a damaged database, an old tool)."""
    with sqlite3.connect(db) as conn:
        (bank_id,) = conn.execute("SELECT id FROM banks WHERE name='RAW'").fetchone()
        for kind, value in rows:
            cur = conn.execute(
                "INSERT INTO bank_content (bank_id, enabled, note, metadata_json, origin,"
                " person_id, created_at, updated_at) VALUES (?, 1, NULL, '{}', 'api', NULL,"
                " 'x', 'x')",
                (bank_id,),
            )
            content_id = cur.lastrowid
            cur = conn.execute(
                "INSERT INTO signals (content_id, signal_type, value, quality) VALUES (?,?,?,?)",
                (content_id, kind, value, None),
            )
            if with_changes:
                conn.execute(
                    "INSERT INTO signal_changes (signal_id, content_id, signal_type, value, op,"
                    " at) VALUES (?,?,?,?, 'add', 'x')",
                    (cur.lastrowid, content_id, kind, value),
                )


CORRUPT = [
    ("pdq", "zz" * 32),  # not hex
    ("pdq", "ab" * 31),  # short
    ("pdq", "0" * 64),  # all zero
    ("pdq", "ab cd" + "ab" * 29 + "a"),  # a space inside
    ("md5", "xyz"),
    ("sha256", "12" * 16),  # an md5's length
    ("phash", "ab" * 8),  # a type the service does not know
]


def test_corrupt_rows_are_skipped_and_counted_at_build_and_replay(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    home = tmp_path / "home"
    good = rand_pdq(rng)
    with open_service(home, start_sync=False) as svc:
        svc.create_bank(OP, "RAW")
        svc.add_content(OP, "RAW", [parse_signal("pdq", good)])
        db = home / "service.sqlite"
        insert_raw(db, CORRUPT, with_changes=True)
        assert svc.refresh_index() == len(CORRUPT)  # replay: no crash
        status = {s.signal_type.value: s for s in svc.index_status()}
        assert (status["pdq"].size, status["pdq"].skipped) == (1, 4)
        rebuilt = svc.rebuild_index()
        assert (rebuilt.size, rebuilt.skipped) == (1, 4)
        status = {s.signal_type.value: s for s in svc.index_status()}
        assert (status["md5"].skipped, status["sha256"].skipped) == (1, 1)
        assert len(svc.lookup(OP, [parse_signal("pdq", good)])[0].matches) == 1
    with open_service(home, start_sync=False) as again:  # a fresh build at open
        assert again.index_status()[0].skipped == 4
        assert len(again.lookup(OP, [parse_signal("pdq", good)])[0].matches) == 1
        # a build reads disabled content as disabled, exact signals into their banks
        [match] = again.lookup(OP, [parse_signal("pdq", good)])[0].matches
        again.add_content(OP, "RAW", [parse_signal("md5", "ee" * 16)])
        again.update_content(OP, "RAW", match.content_id, enabled=False)
        again.rebuild_index()
        assert again.lookup(OP, [parse_signal("pdq", good)])[0].matches == ()
        assert len(again.lookup(OP, [parse_signal("md5", "ee" * 16)])[0].matches) == 1
        assert again.index_status()[0].size == 0


def test_lookups_never_read_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "A")
        hashes = [rand_pdq(rng) for _ in range(20)]
        for h in hashes:
            svc.add_content(OP, "A", [parse_signal("pdq", h), parse_signal("md5", h[:32])])

        def no_db(*_a: object, **_k: object) -> None:
            raise AssertionError("a lookup touched the database")

        monkeypatch.setattr(svc.store, "read", no_db)
        monkeypatch.setattr(svc.store, "write", no_db)
        queries = [parse_signal("pdq", h) for h in hashes] + [
            parse_signal("md5", h[:32]) for h in hashes
        ]
        results = svc.lookup(OP, queries * 10)
        assert all(len(r.matches) == 1 for r in results)
        monkeypatch.undo()


def two_services(home: Path, url: str | None) -> tuple[MatchingService, MatchingService]:
    a = open_service(home / "a", url or f"sqlite:///{home / 'shared.sqlite'}", sync_interval_s=0.2)
    b = open_service(home / "b", url or f"sqlite:///{home / 'shared.sqlite'}", sync_interval_s=0.2)
    return a, b


def check_two_services(a: MatchingService, b: MatchingService) -> None:
    rng = np.random.default_rng(3)
    h = rand_pdq(rng)
    query = [parse_signal("pdq", h)]
    a.create_bank(OP, "SHARED")
    content = a.add_content(OP, "SHARED", [parse_signal("pdq", h)])
    assert a.lookup(OP, query)[0].matches[0].content_id == content.id  # at once, in A
    seen = wait_for(lambda: bool(b.lookup(OP, query)[0].matches))  # B's sync thread
    assert seen < 10
    # a withdrawal through B removes the person's hashes from both
    adv = b.authenticate(b.add_key(OP, ServiceRole.ADVOCATE, "adv").token)
    person = b.add_person(adv, "p", '{"consent": "yes"}')
    ph = rand_pdq(rng)
    b.add_content(adv, PACK_BANK, [parse_signal("pdq", ph)], person_id=person.id)
    pq = [parse_signal("pdq", ph)]
    wait_for(lambda: bool(a.lookup(OP, pq)[0].matches))
    b.withdraw_person(adv, person.id)
    assert b.lookup(OP, pq)[0].matches == ()
    wait_for(lambda: not a.lookup(OP, pq)[0].matches)
    # a bank disabled in A stops matching in B (bank flags are re-read at every sync)
    a.update_bank(OP, "SHARED", enabled=False)
    wait_for(lambda: not b.lookup(OP, query)[0].matches)
    # both wrote to one audit chain
    ok, message = a.verify_audit()
    assert ok, message
    actions = {e.action for e in b.audit_log(OP, 100)}
    assert {"content_added", "person_withdrawn", "bank_updated", "lookups"} <= actions


def test_two_services_one_sqlite_database(tmp_path: Path) -> None:
    a, b = two_services(tmp_path, None)
    try:
        check_two_services(a, b)
    finally:
        a.close()
        b.close()


@needs_pg
def test_two_services_one_postgresql_database(tmp_path: Path, pg_url: str) -> None:
    a, b = two_services(tmp_path, pg_url)
    try:
        check_two_services(a, b)
    finally:
        a.close()
        b.close()


@needs_pg
def test_postgresql_banks_lookups_keys_and_corrupt_rows(tmp_path: Path, pg_url: str) -> None:
    rng = np.random.default_rng(4)
    with open_service(tmp_path / "home", pg_url, start_sync=False) as svc:
        svc.create_bank(OP, "PG")
        hashes = [rand_pdq(rng) for _ in range(30)]
        imported = svc.import_hashes(OP, "PG", "".join(f"pdq {h}\n" for h in hashes).encode())
        assert (imported.added, imported.signals) == (30, 30)
        results = svc.lookup(OP, [parse_signal("pdq", h) for h in hashes])
        assert all(r.matches and r.matches[0].distance == 0 for r in results)
        key = svc.add_key(OP, ServiceRole.MATCHER, "m")
        assert svc.authenticate(key.token).key_id == key.info.id
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            bank_id = conn.execute(sa.text("SELECT id FROM banks WHERE name='PG'")).scalar()
            cid = conn.execute(
                sa.text(
                    "INSERT INTO bank_content (bank_id, enabled, metadata_json, origin,"
                    " created_at, updated_at) VALUES (:b, true, '{}', 'api', 'x', 'x')"
                    " RETURNING id"
                ),
                {"b": bank_id},
            ).scalar()
            conn.execute(
                sa.text(
                    "INSERT INTO signals (content_id, signal_type, value) VALUES (:c, 'pdq', :v)"
                ),
                {"c": cid, "v": "0" * 64},
            )
        engine.dispose()
        status = svc.rebuild_index()
        assert (status.size, status.skipped) == (30, 1)
        assert svc.export_bank(OP, "PG", "pytx").decode().count("pdq ") == 30  # not the zero
        ok, message = svc.verify_audit()
        assert ok, message


def test_an_index_with_build_from_gets_the_chunks_as_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond the contract: an index that offers ``build_from(chunks)`` is fed while the
    database is read (no staged copy of the rows); the answers are the same."""
    from consentry.hashindex import PdqIndex
    from consentry.services.matching import sync

    calls: list[int] = []

    class ChunkedIndex(PdqIndex):
        def build_from(self, chunks: Iterator[tuple[np.ndarray, np.ndarray]]) -> None:
            parts = list(chunks)
            calls.append(len(parts))
            ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
            rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 32), np.uint8)
            self.add(ids, rows)

    if not hasattr(PdqIndex, "search_rows"):
        pytest.skip("the index keeps no rows of its own yet (the service keeps a copy)")
    monkeypatch.setattr(sync, "PdqIndex", ChunkedIndex)
    rng = np.random.default_rng(5)
    hashes = [rand_pdq(rng) for _ in range(40)]
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "A")
        svc.import_hashes(OP, "A", "".join(f"pdq {h}\n" for h in hashes).encode())
        svc.rebuild_index()
        assert calls and svc.index_status()[0].size == 40
        results = svc.lookup(OP, [parse_signal("pdq", h) for h in hashes])
        assert [r.matches[0].matched_value for r in results] == hashes


def test_a_contract_only_index_works_with_the_service_keeping_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index with only the contract's methods (no ``build``, ``hashes``): the service keeps
    the matched rows itself and gives the same answers."""
    from consentry.hashindex import PdqIndex, SearchHits
    from consentry.services.matching import sync

    class ContractOnly:
        def __init__(self) -> None:
            self._ix = PdqIndex()

        def add(self, ids: np.ndarray, rows: np.ndarray) -> None:
            self._ix.add(ids, rows)

        def remove(self, ids: np.ndarray) -> None:
            self._ix.remove(ids)

        def search(self, queries: np.ndarray, threshold: int = 31) -> SearchHits:
            return self._ix.search(queries, threshold)

        def __len__(self) -> int:
            return len(self._ix)

        def memory_bytes(self) -> int:
            return self._ix.memory_bytes()

    monkeypatch.setattr(sync, "PdqIndex", ContractOnly)
    rng = np.random.default_rng(6)
    hashes = [rand_pdq(rng) for _ in range(30)]
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "A")
        svc.import_hashes(OP, "A", "".join(f"pdq {h}\n" for h in hashes[:20]).encode())
        svc.rebuild_index()
        svc.import_hashes(OP, "A", "".join(f"pdq {h}\n" for h in hashes[20:]).encode())
        results = svc.lookup(OP, [parse_signal("pdq", h) for h in hashes])
        assert [r.matches[0].matched_value for r in results] == hashes
        assert svc.index_status()[0].size == 30


def test_lookups_during_changes_never_see_half_a_change(tmp_path: Path) -> None:
    """One thread adds and deletes content items of 8 signals each (a PDQ's dihedral set, as
    a pack stores them) while another looks all 8 up: each answer lists a content item with
    all 8 of its variants or not at all (a change batch is applied under the writer lock)."""
    import threading

    rng = np.random.default_rng(9)
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "A")
        variants = [rand_pdq(rng) for _ in range(8)]
        queries = [parse_signal("pdq", v) for v in variants]
        stop = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for _ in range(25):
                    c = svc.add_content(OP, "A", queries)
                    svc.delete_content(OP, "A", c.id)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                stop.set()

        seen = {0: 0, 8: 0}
        thread = threading.Thread(target=writer)
        thread.start()
        while not stop.is_set():
            found = sum(len(r.matches) for r in svc.lookup(OP, queries, threshold=0))
            assert found in (0, 8), found
            seen[found] += 1
        thread.join()
        assert not errors, errors
        assert seen[0] + seen[8] > 0
        assert svc.lookup(OP, queries)[0].matches == ()


def test_a_change_batch_never_ends_inside_a_content_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.services.matching import sync

    rng = np.random.default_rng(10)
    with open_service(tmp_path / "a", f"sqlite:///{tmp_path / 'db.sqlite'}", start_sync=False) as a:
        a.create_bank(OP, "A")
        with open_service(
            tmp_path / "b", f"sqlite:///{tmp_path / 'db.sqlite'}", start_sync=False
        ) as b:
            items = [[rand_pdq(rng) for _ in range(3)] for _ in range(4)]  # 12 change rows
            for item in items:
                a.add_content(OP, "A", [parse_signal("pdq", h) for h in item])
            monkeypatch.setattr(sync, "CHANGE_BATCH", 5)
            applied: list[int] = []
            real = b.indexes._apply

            def spy(changes: list) -> None:  # type: ignore[type-arg]
                applied.append(len(changes))
                real(changes)

            monkeypatch.setattr(b.indexes, "_apply", spy)
            assert b.refresh_index() == 12
            assert applied == [3, 3, 3, 3]  # batches of 5 cut back to whole items
            queries = [parse_signal("pdq", h) for item in items for h in item]
            assert all(len(r.matches) == 1 for r in b.lookup(OP, queries))


def test_build_index_false_defers_the_build_to_the_first_lookup(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    h = rand_pdq(rng)
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "A")
        svc.add_content(OP, "A", [parse_signal("pdq", h)])
    with open_service(tmp_path / "home", start_sync=False, build_index=False) as lazy:
        assert lazy.indexes.built_at == ""  # nothing read yet
        lazy.add_key(OP, ServiceRole.MATCHER, "m")  # writes need no index
        lazy.add_content(OP, "A", [parse_signal("pdq", rand_pdq(rng))])
        assert lazy.indexes.built_at == ""
        assert len(lazy.lookup(OP, [parse_signal("pdq", h)])[0].matches) == 1
        assert lazy.index_status()[0].size == 2


def test_face_templates_are_cached_until_one_is_added_or_withdrawn_anywhere(
    tmp_path: Path,
) -> None:
    import shutil

    rng = np.random.default_rng(12)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with open_service(tmp_path / "a", url, start_sync=False) as a:
        # hosts on one database share the home's key files (secrets.py)
        (tmp_path / "b").mkdir(mode=0o700)
        for name in ("template.key", "pack.key"):
            shutil.copy2(tmp_path / "a" / name, tmp_path / "b" / name)
        with open_service(tmp_path / "b", url, start_sync=False) as b:
            adv = a.authenticate(a.add_key(OP, ServiceRole.ADVOCATE, "adv").token)
            p1 = a.add_person(adv, "p1", '{"consent": "yes"}')
            emb = rng.standard_normal(128).astype(np.float32)
            a.add_face_template(adv, p1.id, emb, "sface")
            first = b.face_templates()
            assert [(pid, label) for pid, label, _ in first] == [(p1.id, "p1")]
            assert b.face_templates()[0][2] is first[0][2]  # cached: not decrypted again
            p2 = a.add_person(adv, "p2", '{"consent": "yes"}')
            a.add_face_template(adv, p2.id, -emb, "sface")
            assert [pid for pid, _, _ in b.face_templates()] == [p1.id, p2.id]
            a.withdraw_person(adv, p1.id)
            [(pid, _label, got)] = b.face_templates()
            assert pid == p2.id and np.array_equal(got, -emb)


def test_bulk_inserts_pair_every_signal_with_its_own_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """insert_contents writes blocks of multi-row INSERTs; across block edges, with items of
    one and of several signals, every signal and change row names its own content item."""
    from consentry.store import bank_store

    monkeypatch.setattr(bank_store, "INSERT_BLOCK", 7)
    rng = np.random.default_rng(11)
    rows = []
    for i in range(40):
        pdq, md5 = rand_pdq(rng), rand_pdq(rng)[:32]
        rows.append((pdq, md5 if i % 3 else None))
    text = "signal_type,value,quality,note,content_id\n" + "".join(
        f"pdq,{p},,item{i},{i}\n" + (f"md5,{m},,item{i},{i}\n" if m else "")
        for i, (p, m) in enumerate(rows)
    )
    with open_service(tmp_path / "home", start_sync=False) as svc:
        svc.create_bank(OP, "BULK")
        imported = svc.import_hashes(OP, "BULK", text.encode(), "csv")
        assert imported.signals == sum(1 + (m is not None) for _, m in rows)
        results = svc.lookup(OP, [parse_signal("pdq", p) for p, _ in rows])
        ids = [r.matches[0].content_id for r in results]
        assert len(set(ids)) == len(ids)
        for cid, (pdq, md5) in zip(ids, rows, strict=True):
            stored = {
                (s.signal_type.value, s.value) for s in svc.get_content(OP, "BULK", cid).signals
            }
            assert ("pdq", pdq) in stored and (md5 is None or ("md5", md5) in stored)
        with sa.create_engine(f"sqlite:///{tmp_path / 'home' / 'service.sqlite'}").connect() as c:
            wrong = c.execute(
                sa.text(
                    "SELECT count(*) FROM signal_changes ch JOIN signals s ON s.id = ch.signal_id"
                    " WHERE ch.content_id != s.content_id OR ch.value != s.value"
                )
            ).scalar()
        assert wrong == 0
