"""A small in-memory stand-in for ``MatchingService`` (docs/service-contract.md), the seam the
HTTP shell's tests use while part 2's service is being written: same methods, same errors,
same role rules in miniature. Once ``open_service`` exists the tests run against the real one
too (``service`` fixture in test_matchapi.py); this fake stays for the shell's own edge cases
(rate limits, tiny body limits) that are quicker to provoke here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

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

NOW = "2026-12-02T12:00:00+00:00"
BANK_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
CURATORS = (ServiceRole.CURATOR, ServiceRole.ADMIN)
MATCHERS = (ServiceRole.MATCHER, ServiceRole.CURATOR, ServiceRole.ADMIN)


def _need(caller: Caller, roles: Sequence[ServiceRole]) -> None:
    if caller.role not in roles:
        raise MatchServiceError(MatchErrorCode.FORBIDDEN, f"a {caller.role} key may not do this")


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


class FakeService:
    def __init__(self) -> None:
        self.banks: dict[str, Bank] = {}
        self.contents: dict[int, BankContent] = {}
        self.keys: dict[str, Caller] = {}
        self.key_infos: list[ApiKeyInfo] = []
        self.audit: list[AuditEntry] = []
        self.persons: dict[int, Person] = {}
        self.calls: dict[int, int] = {}
        self.next_id = 1
        self.closed = False

    # keys
    def add_key(
        self,
        caller: Caller,
        role: ServiceRole,
        name: str,
        *,
        rate_per_minute: int = 600,
        max_body_bytes: int = 10_000_000,
    ) -> NewApiKey:
        _need(caller, (ServiceRole.ADMIN,))
        key_id = len(self.key_infos) + 1
        token = f"cs_k{key_id}_secret{key_id}"
        info = ApiKeyInfo(
            key_id, f"k{key_id}", role, name, rate_per_minute, max_body_bytes, NOW, None
        )
        self.key_infos.append(info)
        self.keys[token] = Caller(key_id, name, role, rate_per_minute, max_body_bytes)
        return NewApiKey(info, token)

    def list_keys(self, caller: Caller) -> list[ApiKeyInfo]:
        _need(caller, (ServiceRole.ADMIN,))
        return list(self.key_infos)

    def disable_key(self, caller: Caller, key_id: int) -> None:
        _need(caller, (ServiceRole.ADMIN,))
        for token, who in list(self.keys.items()):
            if who.key_id == key_id:
                del self.keys[token]
                return
        raise MatchServiceError(MatchErrorCode.NOT_FOUND, f"no key {key_id}")

    def authenticate(self, token: str | None) -> Caller:
        if token is None or token not in self.keys:
            raise MatchServiceError(MatchErrorCode.UNAUTHENTICATED, "unknown API key")
        return self.keys[token]

    def check_rate(self, caller: Caller) -> None:
        key = caller.key_id or 0
        self.calls[key] = self.calls.get(key, 0) + 1
        if caller.rate_per_minute and self.calls[key] > caller.rate_per_minute:
            raise MatchServiceError(MatchErrorCode.RATE_LIMITED, "over this key's rate limit")

    # banks
    def list_banks(self, caller: Caller) -> list[Bank]:
        _need(caller, MATCHERS)
        return [self._counted(b) for b in sorted(self.banks.values(), key=lambda b: b.name)]

    def _counted(self, bank: Bank) -> Bank:
        count = sum(1 for c in self.contents.values() if c.bank == bank.name)
        return replace(bank, content_count=count)

    def _bank(self, name: str) -> Bank:
        key = name.upper()
        if key not in self.banks:
            raise MatchServiceError(MatchErrorCode.UNKNOWN_BANK, f"no bank {name!r}")
        return self.banks[key]

    def get_bank(self, caller: Caller, name: str) -> Bank:
        _need(caller, MATCHERS)
        return self._counted(self._bank(name))

    def create_bank(
        self,
        caller: Caller,
        name: str,
        *,
        enabled: bool = True,
        matching_enabled_ratio: float = 1.0,
        kind: str = "hash",
    ) -> Bank:
        _need(caller, CURATORS)
        key = name.upper()
        if not BANK_NAME.fullmatch(key):
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, f"bad bank name {name!r}")
        if key in self.banks:
            raise MatchServiceError(MatchErrorCode.BANK_EXISTS, f"bank {key} exists")
        self.banks[key] = Bank(key, enabled, matching_enabled_ratio, kind, NOW, 0)
        return self.banks[key]

    def update_bank(
        self,
        caller: Caller,
        name: str,
        *,
        rename: str | None = None,
        enabled: bool | None = None,
        matching_enabled_ratio: float | None = None,
    ) -> Bank:
        _need(caller, CURATORS)
        bank = self._bank(name)
        if rename is not None:
            new = rename.upper()
            if not BANK_NAME.fullmatch(new):
                raise MatchServiceError(MatchErrorCode.BAD_REQUEST, f"bad bank name {rename!r}")
            if new in self.banks and new != bank.name:
                raise MatchServiceError(MatchErrorCode.BANK_EXISTS, f"bank {new} exists")
            del self.banks[bank.name]
            for cid, c in list(self.contents.items()):
                if c.bank == bank.name:
                    self.contents[cid] = replace(c, bank=new)
            bank = replace(bank, name=new)
        if enabled is not None:
            bank = replace(bank, enabled=enabled)
        if matching_enabled_ratio is not None:
            bank = replace(bank, matching_enabled_ratio=matching_enabled_ratio)
        self.banks[bank.name] = bank
        return self._counted(bank)

    def delete_bank(self, caller: Caller, name: str) -> None:
        _need(caller, CURATORS)
        bank = self._bank(name)
        del self.banks[bank.name]
        for cid in [cid for cid, c in self.contents.items() if c.bank == bank.name]:
            del self.contents[cid]

    # content
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
        _need(caller, CURATORS)
        b = self._bank(bank)
        cid = self.next_id
        self.next_id += 1
        pairs = tuple(sorted((metadata or {}).items()))
        content = BankContent(
            cid, b.name, True, tuple(signals), note, pairs, origin, person_id, NOW, NOW
        )
        self.contents[cid] = content
        return content

    def _content(self, bank: str, content_id: int) -> BankContent:
        b = self._bank(bank)
        c = self.contents.get(content_id)
        if c is None or c.bank != b.name:
            raise MatchServiceError(MatchErrorCode.NOT_FOUND, f"no content {content_id}")
        return c

    def get_content(self, caller: Caller, bank: str, content_id: int) -> BankContent:
        _need(caller, CURATORS)
        return self._content(bank, content_id)

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
        _need(caller, CURATORS)
        c = self._content(bank, content_id)
        if enabled is not None:
            c = replace(c, enabled=enabled)
        if note is not None:
            c = replace(c, note=note)
        if metadata is not None:
            c = replace(c, metadata=tuple(sorted(metadata.items())))
        self.contents[content_id] = c
        return c

    def delete_content(self, caller: Caller, bank: str, content_id: int) -> None:
        _need(caller, CURATORS)
        self._content(bank, content_id)
        del self.contents[content_id]

    # lookups
    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: Sequence[str] | None = None,
        threshold: int = 31,
    ) -> list[LookupResult]:
        _need(caller, MATCHERS)
        if len(signals) > 1000:
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "at most 1000 signals")
        wanted = {b.upper() for b in banks} if banks else None
        if wanted:
            for name in wanted:
                self._bank(name)
        out = []
        for q in signals:
            found: list[Match] = []
            for c in self.contents.values():
                bank = self.banks[c.bank]
                if not c.enabled or not bank.enabled or (wanted and c.bank not in wanted):
                    continue
                best: tuple[int, str] | None = None
                for s in c.signals:
                    if s.signal_type is not q.signal_type:
                        continue
                    d = self.compare(q, s)
                    limit = threshold if q.signal_type is SignalType.PDQ else 0
                    if d <= limit and (best is None or d < best[0]):
                        best = (d, s.value)
                if best is not None:
                    found.append(Match(q.signal_type, c.bank, c.id, best[0], best[1], c.metadata))
            found.sort(key=lambda m: (m.distance, m.content_id))
            out.append(LookupResult(q.signal_type, q.value, tuple(found)))
        self.audit.append(AuditEntry(len(self.audit) + 1, NOW, caller.actor, "lookup"))
        return out

    def compare(self, a: Signal, b: Signal) -> int:
        if a.signal_type is SignalType.PDQ:
            return _hamming(a.value, b.value)
        return 0 if a.value == b.value else 256

    def index_status(self) -> list[IndexStatus]:
        sizes = {t: 0 for t in SignalType}
        for c in self.contents.values():
            for s in c.signals:
                sizes[s.signal_type] += 1
        return [IndexStatus(t, n, NOW, NOW, 0, n * 32) for t, n in sizes.items()]

    # import / export
    def import_hashes(
        self, caller: Caller, bank: str, data: bytes, fmt: str = "auto"
    ) -> ImportResult:
        from consentry.services.matching.validate import parse_signal

        _need(caller, CURATORS)
        b = self._bank(bank)
        added, skipped = 0, []
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            parts = line.replace(",", " ").split()
            if not parts:
                continue
            try:
                sig = parse_signal(parts[0], parts[1] if len(parts) > 1 else "")
            except MatchServiceError as exc:
                skipped.append(f"line {n}: {exc.message}")
                continue
            self.add_content(caller, b.name, [sig], origin="pytx")
            added += 1
        return ImportResult(b.name, added, added, tuple(skipped))

    def export_bank(self, caller: Caller, bank: str, fmt: str = "pytx") -> bytes:
        _need(caller, CURATORS)
        b = self._bank(bank)
        rows = [s for c in self.contents.values() if c.bank == b.name for s in c.signals]
        if fmt == "csv":
            lines = ["signal_type,value,quality,note"]
            lines += [f"{s.signal_type},{s.value},{s.quality or ''}," for s in rows]
        else:
            lines = [f"{s.signal_type} {s.value}" for s in rows]
        return ("\n".join(lines) + "\n").encode()

    # persons
    def list_persons(self, caller: Caller) -> list[Person]:
        _need(caller, (ServiceRole.ADVOCATE, ServiceRole.ADMIN))
        return [
            p
            for p in self.persons.values()
            if caller.role is ServiceRole.ADMIN or p.owner_key_id == caller.key_id
        ]

    def withdraw_person(self, caller: Caller, person_id: int) -> WithdrawalResult:
        _need(caller, (ServiceRole.ADVOCATE, ServiceRole.ADMIN))
        p = self.persons.get(person_id)
        if p is None or (caller.role is ServiceRole.ADVOCATE and p.owner_key_id != caller.key_id):
            raise MatchServiceError(MatchErrorCode.NOT_FOUND, f"no person {person_id}")
        gone = [cid for cid, c in self.contents.items() if c.person_id == person_id]
        signals = sum(len(self.contents[cid].signals) for cid in gone)
        for cid in gone:
            del self.contents[cid]
        del self.persons[person_id]
        self.audit.append(AuditEntry(len(self.audit) + 1, NOW, caller.actor, "withdraw"))
        return WithdrawalResult(person_id, len(gone), signals, p.templates)

    def audit_log(self, caller: Caller, limit: int = 100) -> list[AuditEntry]:
        _need(caller, (ServiceRole.ADMIN,))
        return list(reversed(self.audit))[:limit]

    def pack_public_key(self) -> str:
        return "cHVibGljLWtleS1vZi10aGUtZmFrZQ=="

    def close(self) -> None:
        self.closed = True
