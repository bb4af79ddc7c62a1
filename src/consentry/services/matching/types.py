"""Typed values across the matching service's boundary (shells map them to HTTP/JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SignalType(StrEnum):
    PDQ = "pdq"
    MD5 = "md5"
    SHA256 = "sha256"


class ServiceRole(StrEnum):
    MATCHER = "matcher"  # lookups and hashing only
    CURATOR = "curator"  # banks and their content
    ADVOCATE = "advocate"  # submits and withdraws packs for the persons it submitted
    ADMIN = "admin"  # everything, keys included


class Decision(StrEnum):
    BLOCK = "block"
    REVIEW = "review"
    ALLOW = "allow"


class MatchErrorCode(StrEnum):
    """Stable codes; the HTTP shell maps each to one status (``HTTP_STATUS``)."""

    BAD_HASH = "bad_hash"  # malformed, wrong length, not hex
    ZERO_HASH = "zero_hash"  # all-zero (or all-one) PDQ: matches everything featureless
    LOW_QUALITY = "low_quality"  # PDQ quality < 50
    BAD_REQUEST = "bad_request"  # anything else the caller got wrong (named in the message)
    UNKNOWN_BANK = "unknown_bank"
    BANK_EXISTS = "bank_exists"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    BAD_CONTENT_TYPE = "bad_content_type"
    BAD_IMAGE = "bad_image"  # an upload that does not decode as an image
    BAD_PACK = "bad_pack"  # a sealed pack that does not open or does not parse
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    SERVICE_UNUSABLE = "service_unusable"  # the database does not answer, the home is unwritable


HTTP_STATUS: dict[MatchErrorCode, int] = {
    MatchErrorCode.BAD_HASH: 400,
    MatchErrorCode.ZERO_HASH: 400,
    MatchErrorCode.LOW_QUALITY: 400,
    MatchErrorCode.BAD_REQUEST: 400,
    MatchErrorCode.UNKNOWN_BANK: 404,
    MatchErrorCode.BANK_EXISTS: 409,
    MatchErrorCode.NOT_FOUND: 404,
    MatchErrorCode.TOO_LARGE: 413,
    MatchErrorCode.BAD_CONTENT_TYPE: 415,
    MatchErrorCode.BAD_IMAGE: 422,
    MatchErrorCode.BAD_PACK: 422,
    MatchErrorCode.UNAUTHENTICATED: 401,
    MatchErrorCode.FORBIDDEN: 403,
    MatchErrorCode.RATE_LIMITED: 429,
    MatchErrorCode.SERVICE_UNUSABLE: 503,
}


class MatchServiceError(Exception):
    """One-line reason for the caller; nothing was stored."""

    def __init__(self, code: MatchErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key (HTTP) or the local operator (CLI, ``Caller.local``)."""

    key_id: int | None
    name: str
    role: ServiceRole
    rate_per_minute: int = 0  # 0: no limit
    max_body_bytes: int = 0  # 0: the service default

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}:{self.name}" if self.key_id is not None else f"cli:{self.name}"

    @staticmethod
    def local(name: str = "operator") -> Caller:
        return Caller(None, name, ServiceRole.ADMIN)


@dataclass(frozen=True)
class Signal:
    signal_type: SignalType
    value: str  # lowercase hex, validated
    quality: int | None = None  # PDQ only


@dataclass(frozen=True)
class Bank:
    name: str
    enabled: bool
    matching_enabled_ratio: float
    kind: str  # hash | pack
    created_at: str
    content_count: int


@dataclass(frozen=True)
class BankContent:
    id: int
    bank: str
    enabled: bool
    signals: tuple[Signal, ...]
    note: str | None
    metadata: tuple[tuple[str, str], ...]  # sorted (key, value) pairs
    origin: str
    person_id: int | None
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class Match:
    signal_type: SignalType
    bank: str
    content_id: int
    distance: int  # 0 for exact (md5/sha256) banks
    matched_value: str  # the stored hash that matched (a dihedral variant for a mirrored copy)
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LookupResult:
    """The matches of one query hash, best (smallest distance) first, one per content item."""

    signal_type: SignalType
    query: str
    matches: tuple[Match, ...]


@dataclass(frozen=True)
class HashedUpload:
    """What the service computed of an upload (the upload itself is never stored)."""

    sha256: str
    md5: str
    pdq: str | None
    pdq_quality: int | None
    pdq_dihedral: tuple[str, ...] = ()
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class FaceComparison:
    person_id: int
    person_label: str
    similarity: float
    threshold: float
    matched: bool


@dataclass(frozen=True)
class ScreenResult:
    decision: Decision
    reasons: tuple[str, ...]  # one line each, in the order they decided
    hashes: HashedUpload
    matches: tuple[LookupResult, ...]
    explicit_label: str | None  # explicit | suggestive | neutral | None (not analysed)
    explicit_score: float | None
    faces: tuple[FaceComparison, ...] = ()


@dataclass(frozen=True)
class IndexStatus:
    signal_type: SignalType
    size: int  # hashes searchable now
    built_at: str  # last full build (ISO 8601 UTC)
    updated_at: str  # last change applied
    last_seq: int  # signal_changes.seq applied
    memory_bytes: int
    skipped: int = 0  # corrupt rows skipped at build (reported, never a crash)


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    prefix: str
    role: ServiceRole
    name: str
    rate_per_minute: int
    max_body_bytes: int
    created_at: str
    disabled_at: str | None


@dataclass(frozen=True)
class NewApiKey:
    info: ApiKeyInfo
    token: str  # shown once: cs_<prefix>_<secret>


@dataclass(frozen=True)
class Person:
    id: int
    label: str
    owner_key_id: int | None
    created_at: str
    templates: int
    contents: int


@dataclass(frozen=True)
class ImportResult:
    bank: str
    added: int  # content items created
    signals: int
    skipped: tuple[str, ...] = ()  # one line per rejected line/row, with its reason
    person_id: int | None = None


@dataclass(frozen=True)
class WithdrawalResult:
    person_id: int
    contents_deleted: int
    signals_deleted: int
    templates_deleted: int


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    payload: dict[str, object] = field(default_factory=dict)
    hash: str = ""
