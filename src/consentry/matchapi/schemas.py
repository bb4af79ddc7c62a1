"""Pydantic models at the HTTP edge (the service speaks typed dataclasses; these are what the
OpenAPI document describes and what schemathesis checks answers against). ``from_*``
functions turn the service's values into them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from consentry.services.matching.types import (
    ApiKeyInfo,
    AuditEntry,
    Bank,
    BankContent,
    Decision,
    FaceComparison,
    HashedUpload,
    ImportResult,
    IndexStatus,
    LookupResult,
    Match,
    NewApiKey,
    Person,
    ScreenResult,
    ServiceRole,
    Signal,
    SignalType,
    WithdrawalResult,
)

MAX_LOOKUP = 1000
HASH_TEXT = 128  # longer than any hash we take (sha256: 64 hex)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- HMA 1.x shapes


class HmaBank(BaseModel):
    """HMA's bank: ``{"name", "matching_enabled_ratio"}`` (pytx ``BankConfig`` jsonified)."""

    name: str
    matching_enabled_ratio: float


class HmaBankCreate(BaseModel):
    name: str = Field(max_length=200)
    enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    enabled: bool | None = None


class HmaBankUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=200)
    enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    enabled: bool | None = None


class HmaMatch(BaseModel):
    bank_content_id: int
    distance: str  # HMA: SignalSimilarityInfo.pretty_str(), "9" for PDQ


class HmaRawLookup(BaseModel):
    matches: list[int] | list[HmaMatch]


class HmaIndexStatus(BaseModel):
    present: bool
    built_to: int
    size: int


class HmaContentMetadata(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    content_id: str | None = Field(default=None, max_length=500)
    content_uri: str | None = Field(default=None, max_length=2000)
    json_data: dict[str, object] | None = Field(
        default=None, alias="json", serialization_alias="json"
    )


class HmaAdded(BaseModel):
    id: int
    signals: dict[str, str]


class HmaContent(BaseModel):
    """GET /c/bank/<name>/content/<id>; ``signals``, ``metadata`` and ``note`` are left out
    when empty (as HMA does)."""

    id: int
    disable_until_ts: int
    original_media_uri: str | None
    bank: HmaBank
    signals: dict[str, str] | None = None
    metadata: HmaContentMetadata | None = None
    note: str | None = None


class HmaContentUpdated(BaseModel):
    """PUT's answer: HMA jsonifies its ``BankContentConfig`` dataclass, all fields."""

    id: int
    disable_until_ts: int
    collab_metadata: dict[str, list[str]]
    original_media_uri: str | None
    bank: HmaBank
    user_metadata: dict[str, object] | None
    note: str | None


class HmaContentUpdate(BaseModel):
    disable_until_ts: int | None = None
    note: str | None = Field(default=None, max_length=255)


class HmaMessage(BaseModel):
    message: str


class HmaDeleted(BaseModel):
    deleted: int


# ---------------------------------------------------------------- /v1


class SignalIn(_In):
    signal_type: SignalType
    value: str = Field(max_length=HASH_TEXT, description="hex; any case, stored lowercase")
    quality: int | None = Field(default=None, ge=0, le=100, description="PDQ quality")


class SignalOut(BaseModel):
    signal_type: SignalType
    value: str
    quality: int | None


class MatchOut(BaseModel):
    signal_type: SignalType
    bank: str
    content_id: int
    distance: int = Field(description="Hamming bits for PDQ; 0 for an exact (md5/sha256) bank")
    matched_value: str
    metadata: dict[str, str]


class LookupResultOut(BaseModel):
    signal_type: SignalType
    query: str
    matches: list[MatchOut]


class LookupIn(_In):
    signals: list[SignalIn] = Field(min_length=1, max_length=MAX_LOOKUP)
    banks: list[str] | None = Field(default=None, max_length=200)
    threshold: int = Field(default=31, ge=0, le=31, description="PDQ: most bits apart")


class LookupOut(BaseModel):
    results: list[LookupResultOut]


class HashesOut(BaseModel):
    sha256: str
    md5: str
    pdq: str | None
    pdq_quality: int | None
    pdq_dihedral: list[str]
    width: int
    height: int


class MatchUploadOut(BaseModel):
    """POST /v1/match: the upload's hashes and every match (best first), in one answer."""

    hashes: HashesOut
    matches: list[MatchOut]
    results: list[LookupResultOut]


class BankOut(BaseModel):
    name: str
    enabled: bool
    matching_enabled_ratio: float
    kind: str
    created_at: str
    content_count: int


class BankIn(_In):
    name: str = Field(max_length=200)
    enabled: bool = True
    matching_enabled_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    kind: Literal["hash", "pack"] = "hash"


class BankPatch(_In):
    rename: str | None = Field(default=None, max_length=200)
    enabled: bool | None = None
    matching_enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)


class ContentIn(_In):
    signals: list[SignalIn] = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=255)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    person_id: int | None = Field(
        default=None, description="the consented person these hashes are of (advocates: required)"
    )


class ContentPatch(_In):
    enabled: bool | None = None
    note: str | None = Field(default=None, max_length=255)
    metadata: dict[str, str] | None = Field(default=None, max_length=64)


class ContentOut(BaseModel):
    id: int
    bank: str
    enabled: bool
    signals: list[SignalOut]
    note: str | None
    metadata: dict[str, str]
    origin: str
    person_id: int | None
    created_at: str
    updated_at: str


class ImportOut(BaseModel):
    bank: str
    added: int
    signals: int
    skipped: list[str]
    person_id: int | None


class FaceOut(BaseModel):
    person_id: int
    person_label: str
    similarity: float
    threshold: float
    matched: bool


class ScreenOut(BaseModel):
    """Labels, scores and distances only: the upload itself is never echoed back."""

    decision: Decision
    reasons: list[str]
    hashes: HashesOut
    matches: list[LookupResultOut]
    explicit_label: str | None
    explicit_score: float | None
    faces: list[FaceOut]


class PersonOut(BaseModel):
    id: int
    label: str
    owner_key_id: int | None
    created_at: str
    templates: int
    contents: int


class WithdrawalOut(BaseModel):
    person_id: int
    contents_deleted: int
    signals_deleted: int
    templates_deleted: int


class IndexStatusOut(BaseModel):
    signal_type: SignalType
    size: int
    built_at: str
    updated_at: str
    last_seq: int
    memory_bytes: int
    skipped: int


class AuditOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    payload: dict[str, object]
    hash: str


class KeyIn(_In):
    role: ServiceRole
    name: str = Field(min_length=1, max_length=100)
    rate_per_minute: int = Field(default=600, ge=0, le=1_000_000)
    max_body_bytes: int = Field(default=10_000_000, ge=0, le=1_000_000_000)


class KeyOut(BaseModel):
    id: int
    prefix: str
    role: ServiceRole
    name: str
    rate_per_minute: int
    max_body_bytes: int
    created_at: str
    disabled_at: str | None


class NewKeyOut(BaseModel):
    key: KeyOut
    token: str = Field(description="shown once; store it now")


class PackKeyOut(BaseModel):
    public_key: str = Field(description="base64; `consentry pack --to` takes it")


# ---------------------------------------------------------------- conversions


def signal_out(s: Signal) -> SignalOut:
    return SignalOut(signal_type=s.signal_type, value=s.value, quality=s.quality)


def match_out(m: Match) -> MatchOut:
    return MatchOut(
        signal_type=m.signal_type,
        bank=m.bank,
        content_id=m.content_id,
        distance=m.distance,
        matched_value=m.matched_value,
        metadata=dict(m.metadata),
    )


def result_out(r: LookupResult) -> LookupResultOut:
    return LookupResultOut(
        signal_type=r.signal_type, query=r.query, matches=[match_out(m) for m in r.matches]
    )


def hashes_out(h: HashedUpload) -> HashesOut:
    return HashesOut(
        sha256=h.sha256,
        md5=h.md5,
        pdq=h.pdq,
        pdq_quality=h.pdq_quality,
        pdq_dihedral=list(h.pdq_dihedral),
        width=h.width,
        height=h.height,
    )


def bank_out(b: Bank) -> BankOut:
    return BankOut(
        name=b.name,
        enabled=b.enabled,
        matching_enabled_ratio=b.matching_enabled_ratio,
        kind=b.kind,
        created_at=b.created_at,
        content_count=b.content_count,
    )


def content_out(c: BankContent) -> ContentOut:
    return ContentOut(
        id=c.id,
        bank=c.bank,
        enabled=c.enabled,
        signals=[signal_out(s) for s in c.signals],
        note=c.note,
        metadata=dict(c.metadata),
        origin=c.origin,
        person_id=c.person_id,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def import_out(r: ImportResult) -> ImportOut:
    return ImportOut(
        bank=r.bank,
        added=r.added,
        signals=r.signals,
        skipped=list(r.skipped),
        person_id=r.person_id,
    )


def face_out(f: FaceComparison) -> FaceOut:
    return FaceOut(
        person_id=f.person_id,
        person_label=f.person_label,
        similarity=f.similarity,
        threshold=f.threshold,
        matched=f.matched,
    )


def screen_out(r: ScreenResult) -> ScreenOut:
    return ScreenOut(
        decision=r.decision,
        reasons=list(r.reasons),
        hashes=hashes_out(r.hashes),
        matches=[result_out(m) for m in r.matches],
        explicit_label=r.explicit_label,
        explicit_score=r.explicit_score,
        faces=[face_out(f) for f in r.faces],
    )


def person_out(p: Person) -> PersonOut:
    return PersonOut(
        id=p.id,
        label=p.label,
        owner_key_id=p.owner_key_id,
        created_at=p.created_at,
        templates=p.templates,
        contents=p.contents,
    )


def withdrawal_out(w: WithdrawalResult) -> WithdrawalOut:
    return WithdrawalOut(
        person_id=w.person_id,
        contents_deleted=w.contents_deleted,
        signals_deleted=w.signals_deleted,
        templates_deleted=w.templates_deleted,
    )


def index_out(s: IndexStatus) -> IndexStatusOut:
    return IndexStatusOut(
        signal_type=s.signal_type,
        size=s.size,
        built_at=s.built_at,
        updated_at=s.updated_at,
        last_seq=s.last_seq,
        memory_bytes=s.memory_bytes,
        skipped=s.skipped,
    )


def audit_out(a: AuditEntry) -> AuditOut:
    return AuditOut(
        seq=a.seq, at=a.at, actor=a.actor, action=a.action, payload=dict(a.payload), hash=a.hash
    )


def key_out(k: ApiKeyInfo) -> KeyOut:
    return KeyOut(
        id=k.id,
        prefix=k.prefix,
        role=k.role,
        name=k.name,
        rate_per_minute=k.rate_per_minute,
        max_body_bytes=k.max_body_bytes,
        created_at=k.created_at,
        disabled_at=k.disabled_at,
    )


def new_key_out(k: NewApiKey) -> NewKeyOut:
    return NewKeyOut(key=key_out(k.info), token=k.token)
