"""Tables of the matching service's database (``consentry service``): hash banks, their
content and signals, consented persons and their face templates, API keys and the service's
hash-chained audit log. A separate database from any case: a platform runs it, not an examiner.

SQLite by default (one file in the service home), PostgreSQL for production; several worker
processes share it, and each keeps its in-memory index in step by reading ``signal_changes``
past the last sequence number it has seen (visible within seconds, no full rebuild).

Schema changes: bump ``SCHEMA_VERSION`` and add the step to ``bank_store.upgrade`` (the service
database is created with ``create_all``; it has no Alembic history of its own yet).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA_VERSION = 1


class BankBase(DeclarativeBase):
    pass


class ServiceMeta(BankBase):
    __tablename__ = "service_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class BankRow(BankBase):
    __tablename__ = "banks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)  # HMA: [A-Z0-9_]+, see service
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    matching_enabled_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    kind: Mapped[str] = mapped_column(String(16), default="hash")  # hash | pack (victims' packs)
    created_at: Mapped[str] = mapped_column(String(40))


class ContentRow(BankBase):
    __tablename__ = "bank_content"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(Text)  # free text: never an image, never a name
    metadata_json: Mapped[str] = mapped_column(Text, default="{}")  # str -> str pairs
    origin: Mapped[str] = mapped_column(String(16))  # api | hashpack | pack | csv | pytx
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))


class SignalRow(BankBase):
    """One hash of one content item: ``signal_type`` pdq | md5 | sha256, ``value`` lowercase
    hex. A PDQ content item from a pack has 8 rows (the dihedral variants)."""

    # No index on (signal_type, value): lookups never query this table (they are answered
    # from memory), and at 10M hashes such an index would add ~1 GB and slow every insert.
    __tablename__ = "signals"
    __table_args__ = (UniqueConstraint("content_id", "signal_type", "value"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("bank_content.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int | None] = mapped_column(Integer)


class SignalChange(BankBase):
    """Append-only: every signal that became matchable (``add``: inserted, its content
    re-enabled) or stopped being so (``remove``: deleted, its content disabled, its bank
    deleted, consent withdrawn). Workers replay it from their last ``seq``; the index build
    reads ``signals`` directly. A bank's ``enabled`` and ``matching_enabled_ratio`` write no
    rows here: they are read from ``banks`` (a small table) at every sync and applied at
    lookup, so disabling a bank of 10M hashes costs one row, not 10M.

    PostgreSQL hands out ``seq`` before commit, so two concurrent writers could commit out of
    order and a worker that already read the larger ``seq`` would skip the smaller one: every
    write transaction takes ``LOCK TABLE service_audit IN EXCLUSIVE MODE`` first
    (``bank_store.BankStore.write``), which serialises writers (readers are not blocked)."""

    __tablename__ = "signal_changes"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    signal_id: Mapped[int] = mapped_column(BigInteger)
    content_id: Mapped[int] = mapped_column(BigInteger)  # the signal's content (its bank, flags)
    signal_type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(8))  # add | remove
    at: Mapped[str] = mapped_column(String(40))


class PersonRow(BankBase):
    """A person who consented (through a victim's pack or an advocate): no name, a label the
    submitter chose, the consent record, the key that submitted it (an advocate's scope)."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(128))
    consent_json: Mapped[str] = mapped_column(Text)
    owner_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), index=True)
    created_at: Mapped[str] = mapped_column(String(40))


class WithdrawalRow(BankBase):
    """A person's label kept after their consent was withdrawn (the person row is deleted), so
    the same sealed pack sent again is refused instead of enrolling them again. The label of a
    pack person is the pack's own hash, never a name."""

    __tablename__ = "withdrawals"
    label: Mapped[str] = mapped_column(String(128), primary_key=True)
    person_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[str] = mapped_column(String(40))


class FaceTemplateRow(BankBase):
    """A consented face template (SFace embedding, float32), encrypted at rest (Fernet, the
    key in the service home). Never a photo."""

    __tablename__ = "face_templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    template: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))


class ApiKeyRow(BankBase):
    """An API key: shown once at creation as ``cs_<prefix>_<secret>``; only the argon2id hash
    of the secret is stored, found by its prefix."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # matcher | curator | advocate | admin
    name: Mapped[str] = mapped_column(String(128))
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    max_body_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[str] = mapped_column(String(40))
    disabled_at: Mapped[str | None] = mapped_column(String(40))


class ServiceAuditRow(BankBase):
    """Hash-chained like the case's log (store/audit.py): each row's hash covers its content
    and the previous row's hash."""

    __tablename__ = "service_audit"
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(160))  # "key:<id>:<name>" | "cli:<user>"
    action: Mapped[str] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
