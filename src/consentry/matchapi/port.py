"""What the HTTP shell needs of the matching service: the methods of ``MatchingService`` it
calls (docs/service-contract.md, part 2) as a Protocol, and the module functions of parts 2
and 4 it calls (validation, hashing, screening, packs), imported here once.

Why a Protocol: the shell is typed against the contract, not against one class, so the real
service and a test's stand-in both fit, and the shell never reaches past these methods (no
SQL, no audit writes: the service records what it does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from consentry.services.matching.hashing import hash_image
from consentry.services.matching.packs import PackService, import_pack
from consentry.services.matching.screening import ScreeningService, screen
from consentry.services.matching.types import (
    ApiKeyInfo,
    AuditEntry,
    Bank,
    BankContent,
    Caller,
    ImportResult,
    IndexStatus,
    LookupResult,
    NewApiKey,
    Person,
    ServiceRole,
    Signal,
    WithdrawalResult,
)
from consentry.services.matching.validate import parse_signal


class MatchService(PackService, ScreeningService, Protocol):
    """The service methods the shell calls (``MatchingService`` has them all), with those
    ``import_pack`` and ``screen`` need."""

    def list_banks(self, caller: Caller) -> list[Bank]: ...
    def get_bank(self, caller: Caller, name: str) -> Bank: ...
    def create_bank(
        self,
        caller: Caller,
        name: str,
        *,
        enabled: bool = True,
        matching_enabled_ratio: float = 1.0,
        kind: str = "hash",
    ) -> Bank: ...
    def update_bank(
        self,
        caller: Caller,
        name: str,
        *,
        rename: str | None = None,
        enabled: bool | None = None,
        matching_enabled_ratio: float | None = None,
    ) -> Bank: ...
    def delete_bank(self, caller: Caller, name: str) -> None: ...
    def add_content(
        self,
        caller: Caller,
        bank: str,
        signals: Sequence[Signal],
        *,
        note: str | None = None,
        metadata: Mapping[str, str] = ...,
        origin: str = "api",
        person_id: int | None = None,
    ) -> BankContent: ...
    def get_content(self, caller: Caller, bank: str, content_id: int) -> BankContent: ...
    def update_content(
        self,
        caller: Caller,
        bank: str,
        content_id: int,
        *,
        enabled: bool | None = None,
        note: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> BankContent: ...
    def delete_content(self, caller: Caller, bank: str, content_id: int) -> None: ...
    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: Sequence[str] | None = None,
        threshold: int = 31,
    ) -> list[LookupResult]: ...
    def compare(self, a: Signal, b: Signal) -> int: ...
    def index_status(self) -> list[IndexStatus]: ...
    def import_hashes(
        self, caller: Caller, bank: str, data: bytes, fmt: str = "auto"
    ) -> ImportResult: ...
    def export_bank(self, caller: Caller, bank: str, fmt: str = "pytx") -> bytes: ...
    def list_persons(self, caller: Caller) -> list[Person]: ...
    def withdraw_person(self, caller: Caller, person_id: int) -> WithdrawalResult: ...
    def add_key(
        self,
        caller: Caller,
        role: ServiceRole,
        name: str,
        *,
        rate_per_minute: int = 600,
        max_body_bytes: int = 10_000_000,
    ) -> NewApiKey: ...
    def list_keys(self, caller: Caller) -> list[ApiKeyInfo]: ...
    def disable_key(self, caller: Caller, key_id: int) -> None: ...
    def authenticate(self, token: str | None) -> Caller: ...
    def check_rate(self, caller: Caller) -> None: ...
    def audit_log(self, caller: Caller, limit: int = 100) -> list[AuditEntry]: ...
    def pack_public_key(self) -> str: ...
    def face_templates(self) -> list[tuple[int, str, np.ndarray]]: ...
    def open_sealed(self, blob: bytes) -> bytes: ...
    def close(self) -> None: ...


__all__ = ["MatchService", "hash_image", "import_pack", "parse_signal", "screen"]
