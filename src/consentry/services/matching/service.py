"""The matching service's core: ``MatchingService`` is what the HTTP shell, the CLI, screening
and packs call (contract: docs/service-contract.md, part 2).

One object per process. It holds the database (``store.bank_store``), the in-memory indexes
(``sync.Indexes``, the only thing a lookup reads), the home's secrets, the key cache and rate
limiter, and the lookup audit buffer. Every method takes the ``Caller`` and checks its role:

- matcher: lookups, compare, index status;
- curator: banks, their content, imports and exports (and lookups);
- advocate: persons it submitted (add, face templates, withdraw, list), content of those
  persons in a ``pack`` bank (and lookups); another key's person is NOT_FOUND, not FORBIDDEN,
  so an advocate cannot tell which person ids exist;
- admin: everything, keys included. ``Caller.local()`` (the CLI operator) is an admin.

Bad input raises ``MatchServiceError`` before anything is written; every write and its audit
event commit in one transaction.

``matching_enabled_ratio`` (HMA's bank field): a content item of a bank matches when the
bank is enabled, the item is enabled, and ``sync.sample(content id) < ratio``: a fixed,
deterministic per-content sample, so with a ratio of 0.3 the same 30 % of the bank's content
matches on every call and in every process (1.0: all, 0.0: none).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy.exc import IntegrityError

from consentry.hashindex import hex_to_rows
from consentry.services.matching import audit as audit_mod
from consentry.services.matching import keys as keys_mod
from consentry.services.matching.secrets import ServiceSecrets
from consentry.services.matching.sync import Indexes, SyncThread, sample
from consentry.services.matching.types import (
    ApiKeyInfo,
    AuditEntry,
    Bank,
    BankContent,
    Caller,
    ImportResult,
    IndexStatus,
    LookupResult,
    Match,
    MatchErrorCode,
    MatchServiceError,
    NewApiKey,
    Person,
    ServiceRole,
    Signal,
    SignalType,
    WithdrawalResult,
)
from consentry.services.matching.validate import (
    MAX_LOOKUP_SIGNALS,
    parse_bank_name,
    parse_metadata,
    parse_note,
    parse_ratio,
    parse_signal,
    parse_threshold,
)
from consentry.store.bank_store import (
    BankRec,
    BankStore,
    ContentRec,
    KeyRec,
    NewContent,
    PersonRec,
    default_url,
    metadata_json,
    open_bank_engine,
)

PACK_BANK = "VICTIM_PACKS"  # created at open: where victims' packs and advocates' hashes go
MAX_SIGNALS_PER_CONTENT = 64
MAX_LABEL = 128
MAX_CONSENT = 100_000
EMBEDDING_DIMS = (128, 512)  # SFace: 128; room for a 512-d model

_M, _C, _AD, _A = ServiceRole.MATCHER, ServiceRole.CURATOR, ServiceRole.ADVOCATE, ServiceRole.ADMIN
_ANYONE = frozenset({_M, _C, _AD, _A})
_CURATORS = frozenset({_C, _A})
_ADVOCATES = frozenset({_AD, _A})
_ADMINS = frozenset({_A})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _require(caller: Caller, roles: frozenset[ServiceRole], what: str) -> None:
    if caller.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise MatchServiceError(
            MatchErrorCode.FORBIDDEN, f"{what} needs the role {allowed}; this key is {caller.role}"
        )


def _signal(kind: str, value: str, quality: int | None) -> Signal:
    return Signal(SignalType(kind), value, quality)


def _parse_queries(signals: Sequence[Signal]) -> tuple[list[Signal], np.ndarray | None]:
    """The queries, re-validated (a ``Signal`` can be built by hand; a query's quality is not
    checked). A batch of PDQ hashes is checked in one pass (its rows returned for the index:
    1,000 hashes in ~0.3 ms instead of ~4 ms one by one); anything else, or a batch with a bad
    hash, goes through ``parse_signal`` one by one, which names the bad one."""
    if signals and all(
        type(s) is Signal and s.signal_type is SignalType.PDQ and len(s.value) == 64
        for s in signals
    ):
        joined = "".join(s.value for s in signals)
        lower = joined.lower()
        try:
            raw = bytes.fromhex(lower)
        except ValueError:
            raw = b""
        if len(raw) == 32 * len(signals):  # (fromhex skips spaces: a shorter result)
            rows = np.frombuffer(raw, np.uint8).reshape(-1, 32)
            if bool((rows.any(axis=1) & (rows != 255).any(axis=1)).all()):
                if lower == joined:
                    return list(signals), rows
                return [
                    Signal(SignalType.PDQ, lower[64 * i : 64 * i + 64]) for i in range(len(signals))
                ], rows
    return [
        parse_signal(getattr(s, "signal_type", ""), getattr(s, "value", "")) for s in signals
    ], None


class MatchingService:
    """See the module docstring; made by ``open_service``."""

    def __init__(
        self,
        home: Path,
        store: BankStore,
        *,
        sync_interval_s: float = 2.0,
        start_sync: bool = True,
        build_index: bool = True,
    ) -> None:
        self.home = home
        self.store = store
        self.secrets = ServiceSecrets(home)
        self.indexes = Indexes(store)
        self.sync_interval_s = sync_interval_s
        self._lookups = audit_mod.LookupBuffer()
        self._key_cache = keys_mod.KeyCache()
        self._rates = keys_mod.RateLimiter()
        self._closed = False
        self._flush_lock = threading.Lock()
        self._templates: tuple[str, tuple[tuple[int, str, np.ndarray], ...]] | None = None
        self._ensure_pack_bank()
        self._built = False
        self._build_lock = threading.Lock()
        if build_index:
            self._ensure_index()
        self._sync: SyncThread | None = None
        if start_sync:
            self._sync = SyncThread(sync_interval_s, self._tick)
            self._sync.start()

    # -- life ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sync is not None:
            self._sync.stop()
        try:
            self.flush_audit()
        finally:
            self.store.dispose()

    def __enter__(self) -> MatchingService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_index(self) -> None:
        """Build the indexes on first use (at open unless ``build_index=False``: a CLI
        command that adds a key need not read 10M hashes)."""
        if self._built:
            return
        with self._build_lock:
            if not self._built:
                self.indexes.build()
                self._built = True

    def _tick(self) -> None:
        if self._built:
            self.indexes.apply_pending()
        self.flush_audit()

    def _ensure_pack_bank(self) -> None:
        with self.store.read() as conn:
            if self.store.bank(conn, PACK_BANK, counts=False) is not None:
                return
        try:
            with self.store.write() as conn:
                if self.store.bank(conn, PACK_BANK, counts=False) is None:
                    self.store.insert_bank(conn, PACK_BANK, True, 1.0, "pack", _now())
                    self.store.append_audit(
                        conn, _now(), "service", "bank_created", {"bank": PACK_BANK, "kind": "pack"}
                    )
        except IntegrityError:
            pass  # another worker created it at the same moment

    def _synced(self) -> None:
        """After a write: this process sees it at once (others at their next sync)."""
        if self._built:
            self.indexes.apply_pending()

    # -- validation helpers --------------------------------------------------------------------
    @staticmethod
    def parse_signal(signal_type: str, value: str, quality: int | None = None) -> Signal:
        return parse_signal(signal_type, value, quality)

    def _bank_rec(self, conn: object, name: str) -> BankRec:
        found = self.store.bank(conn, parse_bank_name(name))  # type: ignore[arg-type]
        if found is None:
            raise MatchServiceError(MatchErrorCode.UNKNOWN_BANK, f"no bank named {name!r}")
        return found

    @staticmethod
    def _bank(rec: BankRec) -> Bank:
        return Bank(
            rec.name,
            rec.enabled,
            rec.matching_enabled_ratio,
            rec.kind,
            rec.created_at,
            rec.content_count,
        )

    # -- banks ---------------------------------------------------------------------------------
    def list_banks(self, caller: Caller) -> list[Bank]:
        _require(caller, _CURATORS, "listing banks")
        with self.store.read() as conn:
            return [self._bank(b) for b in self.store.banks(conn)]

    def get_bank(self, caller: Caller, name: str) -> Bank:
        _require(caller, _CURATORS, "reading a bank")
        with self.store.read() as conn:
            return self._bank(self._bank_rec(conn, name))

    def create_bank(
        self,
        caller: Caller,
        name: str,
        *,
        enabled: bool = True,
        matching_enabled_ratio: float = 1.0,
        kind: str = "hash",
    ) -> Bank:
        _require(caller, _CURATORS, "creating a bank")
        bank = parse_bank_name(name)
        ratio = parse_ratio(matching_enabled_ratio)
        if kind not in ("hash", "pack"):
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "a bank's kind is hash or pack")
        try:
            with self.store.write() as conn:
                if self.store.bank(conn, bank, counts=False) is not None:
                    raise MatchServiceError(MatchErrorCode.BANK_EXISTS, f"bank {bank} exists")
                self.store.insert_bank(conn, bank, bool(enabled), ratio, kind, _now())
                self.store.append_audit(
                    conn,
                    _now(),
                    caller.actor,
                    "bank_created",
                    {"bank": bank, "kind": kind, "enabled": bool(enabled), "ratio": ratio},
                )
                rec = self._bank_rec(conn, bank)
        except IntegrityError:
            raise MatchServiceError(MatchErrorCode.BANK_EXISTS, f"bank {bank} exists") from None
        self._synced()
        return self._bank(rec)

    def update_bank(
        self,
        caller: Caller,
        name: str,
        *,
        rename: str | None = None,
        enabled: bool | None = None,
        matching_enabled_ratio: float | None = None,
    ) -> Bank:
        _require(caller, _CURATORS, "changing a bank")
        values: dict[str, object] = {}
        if rename is not None:
            values["name"] = parse_bank_name(rename)
        if enabled is not None:
            values["enabled"] = bool(enabled)
        if matching_enabled_ratio is not None:
            values["matching_enabled_ratio"] = parse_ratio(matching_enabled_ratio)
        try:
            with self.store.write() as conn:
                rec = self._bank_rec(conn, name)
                new_name = str(values.get("name", rec.name))
                if new_name != rec.name and self.store.bank(conn, new_name, counts=False):
                    raise MatchServiceError(MatchErrorCode.BANK_EXISTS, f"bank {new_name} exists")
                if rec.name == PACK_BANK and new_name != PACK_BANK:
                    raise MatchServiceError(
                        MatchErrorCode.BAD_REQUEST, f"{PACK_BANK} (victims' packs) keeps its name"
                    )
                self.store.update_bank(conn, rec.id, **values)
                self.store.append_audit(
                    conn,
                    _now(),
                    caller.actor,
                    "bank_updated",
                    {"bank": rec.name, **{k: v for k, v in values.items()}},
                )
                rec = self._bank_rec(conn, new_name)
        except IntegrityError:
            raise MatchServiceError(MatchErrorCode.BANK_EXISTS, "that bank name exists") from None
        self._synced()
        return self._bank(rec)

    def delete_bank(self, caller: Caller, name: str) -> None:
        _require(caller, _CURATORS, "deleting a bank")
        with self.store.write() as conn:
            rec = self._bank_rec(conn, name)
            if rec.name == PACK_BANK:
                raise MatchServiceError(
                    MatchErrorCode.BAD_REQUEST,
                    f"{PACK_BANK} holds consented persons' hashes: withdraw each person instead",
                )
            contents, signals = self.store.delete_bank(conn, rec.id, _now())
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "bank_deleted",
                {"bank": rec.name, "contents": contents, "signals": signals},
            )
        self._synced()

    # -- content -------------------------------------------------------------------------------
    def _content(self, rec: ContentRec) -> BankContent:
        return BankContent(
            id=rec.id,
            bank=rec.bank_name,
            enabled=rec.enabled,
            signals=tuple(_signal(s.signal_type, s.value, s.quality) for s in rec.signals),
            note=rec.note,
            metadata=tuple(sorted(json.loads(rec.metadata_json or "{}").items())),
            origin=rec.origin,
            person_id=rec.person_id,
            created_at=rec.created_at,
            updated_at=rec.updated_at,
        )

    def _check_content_write(
        self, conn: object, caller: Caller, bank: BankRec, person_id: int | None
    ) -> None:
        """Curators and admins write any bank; an advocate only a pack bank, for its own
        person."""
        if caller.role in _CURATORS:
            if person_id is not None:
                self._person(conn, caller, person_id)
            return
        if caller.role is not ServiceRole.ADVOCATE:
            _require(caller, _CURATORS, "adding content")
        if bank.kind != "pack":
            raise MatchServiceError(
                MatchErrorCode.FORBIDDEN,
                f"an advocate adds hashes to a pack bank ({PACK_BANK}) only, not {bank.name}",
            )
        if person_id is None:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "an advocate's hashes belong to one of its persons"
            )
        self._person(conn, caller, person_id)

    def add_content(
        self,
        caller: Caller,
        bank: str,
        signals: Sequence[Signal],
        *,
        note: str | None = None,
        metadata: Mapping[str, str] | None = None,
        origin: str = "api",
        person_id: int | None = None,
    ) -> BankContent:
        """One content item with its signals (e.g. a PDQ and its 7 dihedral variants, an MD5
        and a SHA-256 of the same image)."""
        checked = self._check_signals(signals)
        pairs = parse_metadata(metadata)
        note = parse_note(note)
        with self.store.write() as conn:
            rec = self._bank_rec(conn, bank)
            self._check_content_write(conn, caller, rec, person_id)
            item = NewContent(
                tuple((s.signal_type.value, s.value, s.quality) for s in checked),
                note,
                metadata_json(pairs),
                origin[:16],
                person_id,
            )
            [(content_id, n)] = self.store.insert_contents(conn, rec.id, [item], _now())
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "content_added",
                {
                    "bank": rec.name,
                    "content_id": content_id,
                    "signals": n,
                    "origin": item.origin,
                    "person_id": person_id,
                },
            )
            out = self.store.content(conn, content_id)
        self._synced()
        assert out is not None
        return self._content(out)

    @staticmethod
    def _check_signals(signals: Sequence[Signal]) -> list[Signal]:
        if not signals:
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "a content item needs a signal")
        if len(signals) > MAX_SIGNALS_PER_CONTENT:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                f"a content item has at most {MAX_SIGNALS_PER_CONTENT} signals",
            )
        # re-validated: a Signal can be built by hand without parse_signal
        return [parse_signal(s.signal_type, s.value, s.quality) for s in signals]

    def _content_rec(self, conn: object, bank: BankRec, content_id: int) -> ContentRec:
        rec = self.store.content(conn, int(content_id))  # type: ignore[arg-type]
        if rec is None or rec.bank_id != bank.id:
            raise MatchServiceError(
                MatchErrorCode.NOT_FOUND, f"no content {content_id} in bank {bank.name}"
            )
        return rec

    def get_content(self, caller: Caller, bank: str, content_id: int) -> BankContent:
        _require(caller, _CURATORS, "reading content")
        with self.store.read() as conn:
            return self._content(self._content_rec(conn, self._bank_rec(conn, bank), content_id))

    def update_content(
        self,
        caller: Caller,
        bank: str,
        content_id: int,
        *,
        enabled: bool | None = None,
        note: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> BankContent:
        _require(caller, _CURATORS, "changing content")
        note = parse_note(note)
        pairs = parse_metadata(metadata) if metadata is not None else None
        with self.store.write() as conn:
            rec = self._content_rec(conn, self._bank_rec(conn, bank), content_id)
            change_enabled = enabled if enabled is not None and enabled != rec.enabled else None
            self.store.update_content(
                conn,
                rec.id,
                _now(),
                enabled=change_enabled,
                note=note,
                set_note=note is not None,
                metadata_json=metadata_json(pairs) if pairs is not None else None,
                readd=pairs is not None and rec.enabled and change_enabled is None,
            )
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "content_updated",
                {
                    "bank": rec.bank_name,
                    "content_id": rec.id,
                    "enabled": enabled,
                    "note": note is not None,
                    "metadata": pairs is not None,
                },
            )
            out = self.store.content(conn, rec.id)
        self._synced()
        assert out is not None
        return self._content(out)

    def delete_content(self, caller: Caller, bank: str, content_id: int) -> None:
        _require(caller, _CURATORS, "deleting content")
        with self.store.write() as conn:
            rec = self._content_rec(conn, self._bank_rec(conn, bank), content_id)
            n = self.store.delete_content(conn, [rec.id], _now())
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "content_deleted",
                {"bank": rec.bank_name, "content_id": rec.id, "signals": n},
            )
        self._synced()

    # -- lookups -------------------------------------------------------------------------------
    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: Sequence[str] | None = None,
        threshold: int = 31,
    ) -> list[LookupResult]:
        """One ``LookupResult`` per query, in order: the content items that match it, best
        first, each once (its smallest distance over its signals, e.g. its dihedral
        variants). Only enabled content of enabled banks, within their ratio sample."""
        _require(caller, _ANYONE, "a lookup")
        if not self._built:
            self._ensure_index()
        if len(signals) > MAX_LOOKUP_SIGNALS:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                f"a lookup takes at most {MAX_LOOKUP_SIGNALS} signals, not {len(signals)}",
            )
        threshold = parse_threshold(threshold)
        queries, pdq_rows = _parse_queries(signals)
        banks_flags = self.indexes.banks
        allowed: set[int] | None = None
        if banks is not None:
            by_name = {b.name: b.id for b in banks_flags.values()}
            allowed = set()
            for name in banks:
                bank = parse_bank_name(name)
                if bank not in by_name:
                    raise MatchServiceError(MatchErrorCode.UNKNOWN_BANK, f"no bank named {bank!r}")
                allowed.add(by_name[bank])
        found: list[list[Match]] = [[] for _ in queries]
        pdq_at = [i for i, q in enumerate(queries) if q.signal_type is SignalType.PDQ]
        if pdq_at:
            if pdq_rows is None:
                pdq_rows = hex_to_rows([queries[i].value for i in pdq_at])
            self._lookup_pdq(pdq_rows, pdq_at, threshold, allowed, found)
        for i, q in enumerate(queries):
            if q.signal_type is not SignalType.PDQ:
                found[i] = self._lookup_exact(q, allowed)
        bank_counts = Counter(m.bank for matches in found for m in matches)
        n_matches = bank_counts.total()
        matched_queries = sum(1 for matches in found if matches)
        if self._lookups.add(caller.actor, len(queries), matched_queries, n_matches, bank_counts):
            self.flush_audit()
        return [
            LookupResult(q.signal_type, q.value, tuple(m))
            for q, m in zip(queries, found, strict=True)
        ]

    def _visible(self, content_ids: np.ndarray, bank_ids: np.ndarray, allowed: set[int] | None):
        """Mask of hits whose bank is enabled (and asked for) and whose content is in its
        bank's ratio sample."""
        flags = self.indexes.banks
        if not len(content_ids):
            return np.zeros(0, bool), flags
        uniq = np.unique(bank_ids)
        ratio_of = np.zeros(int(uniq.max()) + 1, np.float64)
        for b in uniq:
            f = flags.get(int(b))
            if f is not None and f.enabled and (allowed is None or f.id in allowed):
                ratio_of[int(b)] = f.ratio
        ratios = ratio_of[bank_ids]
        keep = ratios > 0
        partial = keep & (ratios < 1.0)
        if partial.any():
            keep[partial] = sample(content_ids[partial]) < ratios[partial]
        return keep, flags

    def _lookup_pdq(
        self,
        rows: np.ndarray,
        pdq_at: list[int],
        threshold: int,
        allowed: set[int] | None,
        found: list[list[Match]],
    ) -> None:
        hits = self.indexes.search_pdq(rows, threshold)
        keep, flags = self._visible(hits.content_ids, hits.bank_ids, allowed)
        keep &= hits.content_ids > 0
        if not keep.any():
            return
        q = hits.query[keep]
        cid = hits.content_ids[keep]
        dist = hits.distances[keep]
        bank = hits.bank_ids[keep]
        matched = hits.matched[keep]
        # hits come sorted by query, distance, id: the first of each (query, content) is best
        key = q * (int(cid.max()) + 1) + cid
        _, first = np.unique(key, return_index=True)
        first.sort()
        hexes = matched[first].tobytes().hex()
        meta = self.indexes.metadata
        for j, at in enumerate(first.tolist()):
            c = int(cid[at])
            found[pdq_at[int(q[at])]].append(
                Match(
                    SignalType.PDQ,
                    flags[int(bank[at])].name,
                    c,
                    int(dist[at]),
                    hexes[64 * j : 64 * j + 64],
                    meta(c),
                )
            )

    def _lookup_exact(self, query: Signal, allowed: set[int] | None) -> list[Match]:
        hits = self.indexes.search_exact(query.signal_type.value, query.value)
        if not hits:
            return []
        cids = np.asarray([h[1] for h in hits], np.int64)
        bids = np.asarray([h[2] for h in hits], np.int64)
        keep, flags = self._visible(cids, bids, allowed)
        out = {}
        for ok, c, b in zip(keep.tolist(), cids.tolist(), bids.tolist(), strict=True):
            if ok and c not in out:
                out[c] = Match(
                    query.signal_type,
                    flags[b].name,
                    c,
                    0,
                    query.value,
                    self.indexes.metadata(c),
                )
        return [out[c] for c in sorted(out)]

    def compare(self, a: Signal, b: Signal) -> int:
        """PDQ: the Hamming distance; md5 / sha256: 0 when equal, else 256."""
        a = parse_signal(a.signal_type, a.value)
        b = parse_signal(b.signal_type, b.value)
        if a.signal_type is not b.signal_type:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                f"cannot compare a {a.signal_type} hash with a {b.signal_type} hash",
            )
        if a.signal_type is SignalType.PDQ:
            x = int(a.value, 16) ^ int(b.value, 16)
            return int(x.bit_count())
        return 0 if a.value == b.value else 256

    def index_status(self) -> list[IndexStatus]:
        self._ensure_index()
        return self.indexes.status()

    def refresh_index(self) -> int:
        """Apply pending changes now (the sync thread does it every ``sync_interval_s``)."""
        if not self._built:
            self._ensure_index()
            return 0
        return self.indexes.apply_pending()

    def rebuild_index(self) -> IndexStatus:
        """A full build from ``signals`` (lookups wait meanwhile); the PDQ index's status."""
        with self._build_lock:
            self.indexes.build()
            self._built = True
        return self.indexes.status()[0]

    # -- imports / exports ---------------------------------------------------------------------
    def import_hashes(
        self,
        caller: Caller,
        bank: str,
        data: bytes,
        fmt: str = "auto",
        *,
        person_id: int | None = None,
    ) -> ImportResult:
        """Import a file of hashes into a bank: one content item per image / line (formats.py).
        Bad lines are skipped and listed; the good ones are stored in one transaction."""
        from consentry.services.matching import formats

        _require(caller, _CURATORS | _ADVOCATES, "an import")  # before parsing anything
        parsed = formats.parse_import(data, fmt)
        with self.store.write() as conn:
            rec = self._bank_rec(conn, bank)
            self._check_content_write(conn, caller, rec, person_id)
            items = [
                NewContent(
                    tuple((s.signal_type.value, s.value, s.quality) for s in item.signals),
                    item.note,
                    metadata_json(parse_metadata(item.metadata)),
                    parsed.origin,
                    person_id,
                )
                for item in parsed.items
            ]
            made = self.store.insert_contents(conn, rec.id, items, _now())
            n_signals = sum(n for _, n in made)
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "import",
                {
                    "bank": rec.name,
                    "format": parsed.fmt,
                    "contents": len(made),
                    "signals": n_signals,
                    "skipped": len(parsed.skipped),
                    "person_id": person_id,
                    **parsed.source,
                },
            )
        self._synced()
        return ImportResult(rec.name, len(made), n_signals, tuple(parsed.skipped), person_id)

    def export_bank(self, caller: Caller, bank: str, fmt: str = "pytx") -> bytes:
        """A bank's signals as pytx text (``pdq <hex>`` lines, also md5/sha256) or CSV
        (signal_type,value,quality,note,content_id: the CSV import reads it back)."""
        from consentry.services.matching import formats

        _require(caller, _CURATORS, "exporting a bank")
        if fmt not in ("pytx", "csv"):
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "an export is pytx or csv")
        with self.store.write() as conn:
            rec = self._bank_rec(conn, bank)
            rows = list(self.store.contents(conn, rec.id))
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "export",
                {"bank": rec.name, "format": fmt, "signals": len(rows)},
            )
        return formats.export(rows, fmt)

    # -- persons and face templates ------------------------------------------------------------
    def _person(self, conn: object, caller: Caller, person_id: int) -> PersonRec:
        found = self.store.persons(conn, person_id=int(person_id))  # type: ignore[arg-type]
        scoped = caller.role not in _CURATORS  # an advocate sees the persons of its key only
        if not found or (scoped and found[0].owner_key_id != caller.key_id):
            raise MatchServiceError(MatchErrorCode.NOT_FOUND, f"no person {person_id}")
        return found[0]

    @staticmethod
    def _person_out(rec: PersonRec) -> Person:
        return Person(
            rec.id, rec.label, rec.owner_key_id, rec.created_at, rec.templates, rec.contents
        )

    def add_person(self, caller: Caller, label: str, consent_json: str) -> Person:
        """A consenting person (from a victim's pack or an advocate): a label, no name, and
        the consent record (JSON) that allows matching their face and images."""
        _require(caller, _ADVOCATES, "adding a person")
        label = str(label).strip()
        if not 1 <= len(label) <= MAX_LABEL or not label.isprintable():
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, f"a person's label is 1-{MAX_LABEL} characters"
            )
        try:
            consent = json.loads(consent_json)
        except (TypeError, ValueError):
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "the consent record is not JSON"
            ) from None
        if not isinstance(consent, dict) or not consent or len(consent_json) > MAX_CONSENT:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                "the consent record is a non-empty JSON object (at most 100 kB)",
            )
        with self.store.write() as conn:
            pid = self.store.insert_person(conn, label, consent_json, caller.key_id, _now())
            self.store.append_audit(conn, _now(), caller.actor, "person_added", {"person_id": pid})
            rec = self.store.persons(conn, person_id=pid)[0]
        return self._person_out(rec)

    def add_face_template(
        self, caller: Caller, person_id: int, embedding: np.ndarray, model: str
    ) -> None:
        """A consented face template, encrypted at rest with the home's template key."""
        _require(caller, _ADVOCATES, "adding a face template")
        emb = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if emb.shape[0] not in EMBEDDING_DIMS or not np.isfinite(emb).all() or not emb.any():
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                f"a face template is {' or '.join(map(str, EMBEDDING_DIMS))} finite numbers, "
                "not all zero",
            )
        model = str(model).strip()[:64] or "unknown"
        blob = self.secrets.encrypt_template(emb.astype("<f4").tobytes())
        with self.store.write() as conn:
            self._person(conn, caller, person_id)
            self.store.insert_template(conn, int(person_id), blob, model, _now())
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "face_template_added",
                {"person_id": int(person_id), "model": model},
            )

    def face_templates(self) -> list[tuple[int, str, np.ndarray]]:
        """Every consented template, decrypted: (person id, label, float32 embedding).
        Cached in this process until a template is added or withdrawn anywhere (one row is
        read per call: ``templates_version``), so screening does not decrypt them all for
        every upload."""
        with self.store.read() as conn:
            version = self.store.templates_version(conn)
            cached = self._templates
            if cached is not None and cached[0] == version:
                return list(cached[1])
            rows = self.store.templates(conn)
        out = [
            (pid, label, np.frombuffer(self.secrets.decrypt_template(blob), "<f4").copy())
            for pid, label, blob, _model in rows
        ]
        for _pid, _label, emb in out:
            emb.flags.writeable = False  # shared by every caller of the cache
        self._templates = (version, tuple(out))
        return list(out)

    def list_persons(self, caller: Caller) -> list[Person]:
        _require(caller, _ADVOCATES, "listing persons")
        owner = None if caller.role is ServiceRole.ADMIN else caller.key_id
        if owner is None and caller.role is not ServiceRole.ADMIN:
            return []  # an advocate without a key (none is made so) owns nobody
        with self.store.read() as conn:
            return [self._person_out(p) for p in self.store.persons(conn, owner_key_id=owner)]

    def withdraw_person(self, caller: Caller, person_id: int) -> WithdrawalResult:
        """Consent withdrawn: the person's face templates, content and hashes go from the
        database and (through ``remove`` change rows) from every worker's index."""
        _require(caller, _ADVOCATES, "withdrawing a person")
        with self.store.write() as conn:
            self._person(conn, caller, person_id)
            counts = self.store.purge_person(conn, int(person_id), _now())
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "person_withdrawn",
                {
                    "person_id": int(person_id),
                    "contents": counts.contents,
                    "signals": counts.signals,
                    "templates": counts.templates,
                },
            )
        self._synced()
        return WithdrawalResult(int(person_id), counts.contents, counts.signals, counts.templates)

    def withdrawn_at(self, label: str) -> str | None:
        """When the person labelled ``label`` withdrew their consent (None: never): a pack
        sent again after its withdrawal is refused (packs.import_pack)."""
        with self.store.read() as conn:
            return self.store.withdrawn_label(conn, label)

    # -- keys and limits -----------------------------------------------------------------------
    @staticmethod
    def _key_info(rec: KeyRec) -> ApiKeyInfo:
        return ApiKeyInfo(
            rec.id,
            rec.prefix,
            ServiceRole(rec.role),
            rec.name,
            rec.rate_per_minute,
            rec.max_body_bytes,
            rec.created_at,
            rec.disabled_at,
        )

    def add_key(
        self,
        caller: Caller,
        role: ServiceRole,
        name: str,
        *,
        rate_per_minute: int = 600,
        max_body_bytes: int = 10_000_000,
    ) -> NewApiKey:
        """A new API key; its token is in the answer and nowhere else (shown once)."""
        _require(caller, _ADMINS, "adding a key")
        try:
            role = ServiceRole(role)
        except ValueError:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "a role is matcher, curator, advocate or admin"
            ) from None
        name = keys_mod.check_key_name(name)
        for what, value in (
            ("rate_per_minute", rate_per_minute),
            ("max_body_bytes", max_body_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MatchServiceError(
                    MatchErrorCode.BAD_REQUEST, f"{what} is a whole number >= 0"
                )
        token = keys_mod.new_token()
        secret_hash = keys_mod.hash_secret(token.secret)
        with self.store.write() as conn:
            key_id = self.store.insert_key(
                conn,
                token.prefix,
                secret_hash,
                role.value,
                name,
                rate_per_minute,
                max_body_bytes,
                _now(),
            )
            self.store.append_audit(
                conn,
                _now(),
                caller.actor,
                "key_added",
                {"key_id": key_id, "prefix": token.prefix, "role": role.value, "name": name},
            )
            rec = self.store.key(conn, key_id)
        assert rec is not None
        return NewApiKey(self._key_info(rec), token.token)

    def list_keys(self, caller: Caller) -> list[ApiKeyInfo]:
        _require(caller, _ADMINS, "listing keys")
        with self.store.read() as conn:
            return [self._key_info(k) for k in self.store.keys(conn)]

    def disable_key(self, caller: Caller, key_id: int) -> None:
        _require(caller, _ADMINS, "disabling a key")
        with self.store.write() as conn:
            rec = self.store.key(conn, int(key_id))
            if rec is None or rec.disabled_at is not None:
                raise MatchServiceError(MatchErrorCode.NOT_FOUND, f"no enabled key {key_id}")
            self.store.disable_key(conn, rec.id, _now())
            self.store.append_audit(
                conn, _now(), caller.actor, "key_disabled", {"key_id": rec.id, "name": rec.name}
            )
        self._key_cache.drop_key(int(key_id))

    def authenticate(self, token: str | None) -> Caller:
        """The caller of a bearer token; UNAUTHENTICATED (one answer for every failure)."""
        prefix, secret = keys_mod.parse_token(token)
        assert token is not None
        digest = keys_mod.token_digest(token.strip())
        cached = self._key_cache.get(digest)
        if cached is not None:
            return cached
        with self.store.read() as conn:
            rec = self.store.key_by_prefix(conn, prefix)
        ok = keys_mod.verify_secret(rec.secret_hash if rec else None, secret)
        if rec is None or not ok or rec.disabled_at is not None:
            raise MatchServiceError(MatchErrorCode.UNAUTHENTICATED, "not a valid API key")
        caller = Caller(
            rec.id, rec.name, ServiceRole(rec.role), rec.rate_per_minute, rec.max_body_bytes
        )
        self._key_cache.put(digest, caller)
        return caller

    def check_rate(self, caller: Caller) -> None:
        self._rates.check(caller)

    # -- audit ---------------------------------------------------------------------------------
    def record(self, caller: Caller, action: str, payload: Mapping[str, object]) -> None:
        """One audit event for parts that act outside this class (screening, packs, the CLI)."""
        if not action or len(action) > 64:
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "an audit action is 1-64 chars")
        try:
            json.dumps(dict(payload), allow_nan=False)
        except (TypeError, ValueError):
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "an audit payload holds JSON values only"
            ) from None
        with self.store.write() as conn:
            self.store.append_audit(conn, _now(), caller.actor, action, dict(payload))

    def flush_audit(self) -> None:
        """Write the buffered lookup counts as ``lookups`` events (audit.py)."""
        with self._flush_lock:
            events = self._lookups.drain()
            if not events:
                return
            try:
                with self.store.write() as conn:
                    for actor, payload in events:
                        self.store.append_audit(conn, _now(), actor, "lookups", payload)
            except Exception:
                self._lookups.restore(events)
                raise

    def audit_log(self, caller: Caller, limit: int = 100) -> list[AuditEntry]:
        _require(caller, _ADMINS, "reading the audit log")
        self.flush_audit()
        with self.store.read() as conn:
            return [
                audit_mod.entry(r) for r in self.store.audit_tail(conn, max(1, min(limit, 10_000)))
            ]

    def verify_audit(self) -> tuple[bool, str]:
        self.flush_audit()
        with self.store.read() as conn:
            return audit_mod.verify(self.store.audit_all(conn))

    # -- secrets -------------------------------------------------------------------------------
    def pack_public_key(self) -> str:
        return self.secrets.pack_public_key()

    def open_sealed(self, blob: bytes) -> bytes:
        return self.secrets.open_sealed(blob)


def open_service(
    home: Path,
    db_url: str | None = None,
    *,
    sync_interval_s: float = 2.0,
    start_sync: bool = True,
    build_index: bool = True,
) -> MatchingService:
    """Open (creating on first use) the service in ``home``: its secrets, its database
    (``db_url``, default ``home/service.sqlite``), and the index built from it
    (``build_index=False``: built on the first lookup or index status instead, for commands
    that never look anything up)."""
    from sqlalchemy.exc import SQLAlchemyError

    home = Path(home)
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = open_bank_engine(db_url or default_url(home))
        return MatchingService(
            home,
            BankStore(engine),
            sync_interval_s=sync_interval_s,
            start_sync=start_sync,
            build_index=build_index,
        )
    except (OSError, SQLAlchemyError) as exc:
        # shells may not import SQLAlchemy: one error they can name, with the first line only
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise MatchServiceError(
            MatchErrorCode.SERVICE_UNUSABLE, f"the service cannot start: {first}"
        ) from exc


__all__ = ["PACK_BANK", "MatchingService", "open_service"]
