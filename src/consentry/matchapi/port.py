"""What the HTTP shell needs of the matching service: the methods of ``MatchingService`` it
calls (docs/service-contract.md, part 2) as a Protocol, and the module functions of parts 2
and 4 (validation, hashing, screening, packs) behind one small seam.

Why a Protocol: the shell is typed against the contract, not against one class, so the real
service and a test's stand-in both fit, and the shell never reaches past these methods (no
SQL, no audit writes: the service records what it does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from consentry.services.matching.types import (
    ApiKeyInfo,
    AuditEntry,
    Bank,
    BankContent,
    Caller,
    HashedUpload,
    ImportResult,
    IndexStatus,
    LookupResult,
    NewApiKey,
    Person,
    ScreenResult,
    ServiceRole,
    Signal,
    WithdrawalResult,
)


class MatchService(Protocol):
    """The service methods the shell calls (``MatchingService`` has them all)."""

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


# The module functions of parts 2 and 4. Imported where called so that this shell loads even
# while those modules are being written (issue 15 builds them at the same time); a test may
# replace these names with stand-ins.


def parse_signal(signal_type: str, value: str, quality: int | None = None) -> Signal:
    """A validated signal (lowercase hex) or ``MatchServiceError`` (BAD_HASH, ZERO_HASH, ...)."""
    from consentry.services.matching.validate import parse_signal as parse

    return parse(signal_type, value, quality)


def hash_image(data: bytes, content_type: str | None) -> HashedUpload:
    """PDQ (+ dihedral), MD5 and SHA-256 of an upload; BAD_IMAGE / TOO_LARGE otherwise."""
    from consentry.services.matching.hashing import hash_image as hash_upload

    return hash_upload(data, content_type)


def screen(
    svc: MatchService, caller: Caller, data: bytes, content_type: str | None
) -> ScreenResult:
    """block / review / allow for an upload, with the reasons and distances."""
    from consentry.services.matching.screening import screen as screen_upload

    return screen_upload(svc, caller, data, content_type)


def import_pack(svc: MatchService, caller: Caller, blob: bytes, bank: str) -> ImportResult:
    """Open a sealed victim's pack and take in its hashes and face template."""
    from consentry.services.matching.packs import import_pack as take_pack

    return take_pack(svc, caller, blob, bank=bank)  # type: ignore[arg-type,unused-ignore]
