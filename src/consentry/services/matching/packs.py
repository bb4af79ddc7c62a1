"""Victims' hash packs: made on the victim's own device, opened only by the matching service.

``build_pack`` (run by ``consentry pack`` on the victim's computer) turns photos into what a
platform needs to recognise them, and nothing else: per photo its PDQ with the 8 dihedral
variants (so mirrored and rotated copies match), MD5 and SHA-256, and the embedding of its
largest usable face (an SFace template, 128 floats); plus the consent record, validated as
enrollment validates it. No pixels, no thumbnail, no file name or path, no EXIF: the photos
never leave the device. The JSON document is sealed to the service's public key with a NaCl
sealed box (X25519 + XSalsa20-Poly1305, an ephemeral sender key): only the holder of the
service's secret key can open it, and the victim needs no key of their own.

``import_pack`` (the service, ``POST /v1/packs``) opens it (``svc.open_sealed``), checks every
field before anything is stored (``BAD_PACK`` naming the field), and then stores one consented
person (labelled ``pack <first 16 hex of the pack's SHA-256>``: platforms see that label in
screening results, never the name; the consent record, name included, is stored for the
operator), owned by the advocate key that submitted it; one content item per photo in a bank
of kind ``pack`` (8 PDQ + MD5 + SHA-256 signals, origin ``pack``) and one face template per
photo with a face; all audited. A failure half-way
withdraws the person again, so a pack is stored whole or not at all; the same pack submitted
again by the same key is stored once (the answer names the person), by another key refused.

Pack document, version 1 (what ``PACK_FORMAT`` / ``PACK_VERSION`` name)::

    {"format": "consentry-pack", "version": 1, "created_at": "2026-12-02T14:00:00Z",
     "consent": {<the consent record, persons.consent fields>}, "consent_sha256": "<hex>",
     "face_model": "sface:<sha256 of the SFace file>" | null,
     "photos": [{"sha256": "<64 hex>", "md5": "<32 hex>", "pdq": "<64 hex>" | null,
                 "pdq_quality": 0-100 | null, "pdq_dihedral": ["<64 hex>" x 8],
                 "face": {"embedding": "<base64 of 128 float32, little-endian>",
                          "size_px": 93.5} | null}]}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from consentry.analyzers import faces as faces_mod
from consentry.analyzers import pdq
from consentry.analyzers.models import ModelUnavailable
from consentry.media.reader import open_readonly, read_all
from consentry.persons.consent import ConsentError, ConsentRecord, load_consent, validate_consent
from consentry.records.problems import ItemError
from consentry.records.text_safety import control_escaped
from consentry.services.matching.hashing import decode_upload
from consentry.services.matching.types import (
    Bank,
    BankContent,
    Caller,
    ImportResult,
    MatchErrorCode,
    MatchServiceError,
    Person,
    ServiceRole,
    Signal,
    SignalType,
    WithdrawalResult,
)

PACK_FORMAT = "consentry-pack"
PACK_VERSION = 1
MAX_PHOTOS = 1000  # per pack: a victim's own set, not a bank dump
MAX_PACK_BYTES = 20_000_000  # sealed; 1,000 photos with faces take ~2.4 MB
PACK_BANK = "VICTIM_PACKS"
PACK_ORIGIN = "pack"
FACE_MODEL_PREFIX = "sface:"

_HEX = re.compile(r"[0-9a-f]+")
_PHOTO_KEYS = frozenset({"sha256", "md5", "pdq", "pdq_quality", "pdq_dihedral", "face"})
_TOP_KEYS = frozenset(
    {"format", "version", "created_at", "consent", "consent_sha256", "face_model", "photos"}
)


class PackError(ValueError):
    """The victim's side could not make the pack (one line: which photo or file, and why)."""


# --- the victim's side --------------------------------------------------------------------------
@dataclass(frozen=True)
class PackPhoto:
    """What one photo contributes (progress lines show it; no hash is printed)."""

    number: int  # 1-based, in the order given
    pdq: bool  # a PDQ of quality >= MIN_QUALITY
    face: bool  # a face template
    note: str  # why not, when not


@dataclass(frozen=True)
class BuiltPack:
    blob: bytes  # the sealed pack
    photos: tuple[PackPhoto, ...]
    consented_by: str
    scope: str

    @property
    def templates(self) -> int:
        return sum(p.face for p in self.photos)

    @property
    def pdq_hashes(self) -> int:
        return sum(p.pdq for p in self.photos)


def _public_key(text: str) -> Any:
    from nacl.public import PublicKey

    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PackError("the service's public key is not base64") from None
    if len(raw) != 32:
        raise PackError(f"the service's public key is {len(raw)} bytes, not 32 (X25519)")
    return PublicKey(raw)


def make_pack(
    photos: Sequence[Path],
    public_key: str,
    consent: Path,
    *,
    progress: Callable[[PackPhoto], None] | None = None,
    face_analyzer: Any = None,
) -> BuiltPack:
    """Hash ``photos``, take each one's largest usable face, seal it all with the consent record.

    ``face_analyzer``: tests may pass a stand-in; by default the installed YuNet + SFace (without
    them the pack holds hashes only, and every photo says so)."""
    if not photos:
        raise PackError("no photos given")
    if len(photos) > MAX_PHOTOS:
        raise PackError(f"{len(photos)} photos: a pack holds at most {MAX_PHOTOS}")
    key = _public_key(public_key)
    try:
        loaded = load_consent(consent)
    except ConsentError as exc:
        raise PackError(str(exc)) from None
    analyzer, why_no_faces = face_analyzer, ""
    if analyzer is None:
        try:
            analyzer = faces_mod.load_faces()
        except ModelUnavailable as exc:
            why_no_faces = f"no face template (face models unavailable: {exc})"
    entries: list[dict[str, Any]] = []
    summary: list[PackPhoto] = []
    for number, path in enumerate(photos, start=1):
        entry, photo = _photo_entry(number, path, analyzer, why_no_faces)
        entries.append(entry)
        summary.append(photo)
        if progress is not None:
            progress(photo)
    document = {
        "format": PACK_FORMAT,
        "version": PACK_VERSION,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "consent": json.loads(loaded.record.as_json()),
        "consent_sha256": loaded.file_sha256,
        "face_model": (
            f"{FACE_MODEL_PREFIX}{analyzer.recognizer_sha256}" if analyzer is not None else None
        ),
        "photos": entries,
    }
    from nacl.public import SealedBox

    plain = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return BuiltPack(
        blob=bytes(SealedBox(key).encrypt(plain)),
        photos=tuple(summary),
        consented_by=loaded.record.on_behalf_of or loaded.record.consented_by,
        scope=loaded.record.scope,
    )


def build_pack(photos: Sequence[Path], public_key: str, consent: Path) -> bytes:
    """The sealed pack of ``photos`` (see ``make_pack``; the contract's entry point)."""
    return make_pack(photos, public_key, consent).blob


def _photo_entry(
    number: int, path: Path, analyzer: Any, why_no_faces: str
) -> tuple[dict[str, Any], PackPhoto]:
    try:
        with open_readonly(os.fsencode(path)) as fh:
            data = read_all(fh)
    except ItemError as exc:
        raise PackError(f"photo {number} ({path}): {exc.message}") from None
    try:
        upload = decode_upload(data)
    except MatchServiceError as exc:
        raise PackError(f"photo {number} ({path}): {exc.message}") from None
    hashes = upload.hashes
    good_pdq = hashes.pdq_quality is not None and hashes.pdq_quality >= pdq.MIN_QUALITY
    notes = [] if good_pdq else [f"PDQ quality {hashes.pdq_quality} < {pdq.MIN_QUALITY}"]
    face: dict[str, Any] | None = None
    if analyzer is None:
        notes.append(why_no_faces)
    else:
        face, why = _largest_face(analyzer, upload.image, data)
        if face is None:
            notes.append(why)
    del data  # the picture goes no further than this function
    entry = {
        "sha256": hashes.sha256,
        "md5": hashes.md5,
        "pdq": hashes.pdq,
        "pdq_quality": hashes.pdq_quality,
        "pdq_dihedral": list(hashes.pdq_dihedral),
        "face": face,
    }
    return entry, PackPhoto(number, good_pdq, face is not None, "; ".join(notes))


def _largest_face(analyzer: Any, image: Any, data: bytes) -> tuple[dict[str, Any] | None, str]:
    finding = analyzer.analyze(image.rgb)
    if finding.error:
        return None, f"no face template (face analysis failed: {finding.error})"
    faces = list(finding.faces)
    if not faces:
        return None, "no face found: hashes only"
    if any(faces_mod.TOO_SMALL in f.flags for f in faces):
        faces = faces_mod.second_look(analyzer, image, data, faces)  # a full-body photo
    usable = [f for f in faces if f.usable and f.embedding is not None]
    if not usable:
        return None, f"{len(faces)} face(s), none usable for identity: hashes only"
    face = max(usable, key=lambda f: f.quality.size_px)
    vector = np.asarray(face.embedding, dtype="<f4").reshape(-1)
    return {
        "embedding": base64.b64encode(vector.tobytes()).decode("ascii"),
        "size_px": round(float(face.quality.size_px), 1),
    }, ""


# --- the service's side ---------------------------------------------------------------------------
class PackService(Protocol):
    """What ``import_pack`` needs of the matching service (``MatchingService`` has it)."""

    def open_sealed(self, blob: bytes) -> bytes: ...
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
    def add_person(self, caller: Caller, label: str, consent_json: str) -> Person: ...
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
    def add_face_template(
        self, caller: Caller, person_id: int, embedding: np.ndarray, model: str
    ) -> None: ...
    def withdraw_person(self, caller: Caller, person_id: int) -> WithdrawalResult: ...
    def list_persons(self, caller: Caller) -> list[Person]: ...
    def record(self, caller: Caller, action: str, payload: Mapping[str, object]) -> None: ...
    def withdrawn_at(self, label: str) -> str | None: ...


@dataclass(frozen=True)
class PackPhotoEntry:
    signals: tuple[Signal, ...]
    embedding: np.ndarray | None
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class PackContents:
    """A pack, opened and checked: nothing in it has been stored yet."""

    consent: ConsentRecord
    consent_sha256: str
    face_model: str | None
    photos: tuple[PackPhotoEntry, ...]


def _bad(message: str) -> MatchServiceError:
    # field names and values come from the pack: control characters shown as \xNN (one line)
    return MatchServiceError(MatchErrorCode.BAD_PACK, control_escaped(message)[:300])


def _hex_field(value: object, length: int, where: str) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.fullmatch(value.lower()):
        raise _bad(f"{where} is not {length} hex characters")
    return value.lower()


def _pdq_signal(value: str, quality: int, where: str) -> tuple[Signal | None, str | None]:
    """A PDQ signal, or the reason it is not kept (all-zero / all-one, low quality)."""
    if value.strip("0") == "" or value.strip("f") == "":
        return None, f"{where}: all-zero or all-one PDQ skipped"
    if quality < pdq.MIN_QUALITY:
        return None, f"{where}: PDQ quality {quality} < {pdq.MIN_QUALITY} skipped"
    return Signal(SignalType.PDQ, value, quality), None


def parse_pack(plain: bytes) -> PackContents:
    """Check an opened pack field by field; BAD_PACK names the first field that is wrong."""
    try:
        doc = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("pack is not UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise _bad("pack is not a JSON object")
    unknown = sorted(str(k) for k in doc if k not in _TOP_KEYS)
    if unknown:
        raise _bad(f"unknown field(s) {', '.join(unknown)}")
    if doc.get("format") != PACK_FORMAT:
        raise _bad(f"format is not {PACK_FORMAT!r}")
    if doc.get("version") != PACK_VERSION or isinstance(doc.get("version"), bool):
        raise _bad(f"version {doc.get('version')!r} is not supported (this service reads 1)")
    created = doc.get("created_at")
    try:
        if not isinstance(created, str) or len(created) > 40:
            raise ValueError
        datetime.fromisoformat(created)
    except ValueError:
        raise _bad("created_at is not an ISO 8601 date-time") from None
    try:
        consent = validate_consent(doc.get("consent"))
    except ConsentError as exc:
        raise _bad(f"consent: {exc}") from None
    consent_sha256 = _hex_field(doc.get("consent_sha256"), 64, "consent_sha256")
    face_model = doc.get("face_model")
    if face_model is not None and (
        not isinstance(face_model, str) or not face_model.startswith(FACE_MODEL_PREFIX)
    ):
        raise _bad(f"face_model must be {FACE_MODEL_PREFIX}<sha256> or null")
    if face_model is not None:
        _hex_field(face_model[len(FACE_MODEL_PREFIX) :], 64, "face_model")
    photos = doc.get("photos")
    if not isinstance(photos, list) or not photos:
        raise _bad("photos must be a non-empty list")
    if len(photos) > MAX_PHOTOS:
        raise _bad(f"{len(photos)} photos: a pack holds at most {MAX_PHOTOS}")
    entries = tuple(_parse_photo(p, n, face_model) for n, p in enumerate(photos, start=1))
    return PackContents(consent, consent_sha256, face_model, entries)


def _parse_photo(photo: object, number: int, face_model: object) -> PackPhotoEntry:
    where = f"photo {number}"
    if not isinstance(photo, dict):
        raise _bad(f"{where} is not an object")
    unknown = sorted(str(k) for k in photo if k not in _PHOTO_KEYS)
    if unknown:
        raise _bad(f"{where}: unknown field(s) {', '.join(unknown)}")
    sha256 = _hex_field(photo.get("sha256"), 64, f"{where} sha256")
    md5 = _hex_field(photo.get("md5"), 32, f"{where} md5")
    signals = [Signal(SignalType.SHA256, sha256), Signal(SignalType.MD5, md5)]
    skipped: list[str] = []
    value, quality = photo.get("pdq"), photo.get("pdq_quality")
    if value is not None:
        first = _hex_field(value, 64, f"{where} pdq")
        if not isinstance(quality, int) or isinstance(quality, bool) or not 0 <= quality <= 100:
            raise _bad(f"{where} pdq_quality must be an integer 0-100")
        variants = photo.get("pdq_dihedral")
        if not isinstance(variants, list) or len(variants) != 8:
            raise _bad(f"{where} pdq_dihedral must list 8 PDQ hashes")
        hexes = [_hex_field(v, 64, f"{where} pdq_dihedral[{i}]") for i, v in enumerate(variants)]
        if hexes[0] != first:
            raise _bad(f"{where} pdq_dihedral[0] is not its pdq")
        seen: set[str] = set()
        for i, variant in enumerate(hexes):
            if variant in seen:
                continue  # a symmetric picture gives equal variants: one signal each
            seen.add(variant)
            signal, why = _pdq_signal(variant, quality, f"{where} pdq_dihedral[{i}]")
            if signal is not None:
                signals.append(signal)
            elif why is not None and i == 0:
                skipped.append(why)
    elif photo.get("pdq_dihedral") not in (None, []):
        raise _bad(f"{where} has pdq_dihedral without pdq")
    embedding = None
    face = photo.get("face")
    if face is not None:
        embedding = _parse_face(face, where)
        if face_model is None:
            raise _bad(f"{where} has a face template but the pack names no face_model")
    return PackPhotoEntry(tuple(signals), embedding, tuple(skipped))


def _parse_face(face: object, where: str) -> np.ndarray:
    if not isinstance(face, dict) or set(face) - {"embedding", "size_px"}:
        raise _bad(f"{where} face must be an object with embedding and size_px")
    text = face.get("embedding")
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != faces_mod.EMBEDDING_SIZE * 4:
        raise _bad(f"{where} face embedding is not {faces_mod.EMBEDDING_SIZE} float32 in base64")
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    norm = float(np.linalg.norm(vector)) if np.isfinite(vector).all() else 0.0
    if not 0.99 <= norm <= 1.01:
        raise _bad(f"{where} face embedding is not a unit vector (norm {norm:.3f})")
    size = face.get("size_px")
    if not isinstance(size, int | float) or isinstance(size, bool) or not 0 < size < 100_000:
        raise _bad(f"{where} face size_px must be a positive number")
    return vector


def _installed_face_model() -> str | None:
    from consentry.analyzers.models import SFACE, locate

    try:
        return FACE_MODEL_PREFIX + locate(SFACE).sha256
    except ModelUnavailable:
        return None


# The service's own hand: the pack bank is created (if missing) on the service's behalf, since
# an advocate may submit packs but not manage banks; the import itself is audited as the caller.
_SERVICE = Caller(None, "pack-import", ServiceRole.ADMIN)


def import_pack(
    svc: PackService, caller: Caller, blob: bytes, *, bank: str = PACK_BANK
) -> ImportResult:
    """Open, check and store a victim's pack (see the module docstring); ``BAD_PACK`` with the
    reason when it does not open or a field is wrong, and then nothing is stored."""
    if caller.role not in (ServiceRole.ADVOCATE, ServiceRole.ADMIN):
        raise MatchServiceError(
            MatchErrorCode.FORBIDDEN, "packs are imported by an advocate or an admin key"
        )
    if len(blob) > MAX_PACK_BYTES:
        raise MatchServiceError(
            MatchErrorCode.TOO_LARGE, f"pack is {len(blob):,} bytes, over {MAX_PACK_BYTES:,}"
        )
    contents = parse_pack(svc.open_sealed(blob))
    installed = _installed_face_model()
    with_faces = any(p.embedding is not None for p in contents.photos)
    if with_faces and installed is not None and contents.face_model != installed:
        raise _bad(
            "face templates were made with another SFace model file "
            f"({(contents.face_model or '')[:22]}…), not this service's: not comparable"
        )
    try:
        target = svc.get_bank(_SERVICE, bank)
    except MatchServiceError as exc:
        if exc.code is not MatchErrorCode.UNKNOWN_BANK:
            raise
        target = svc.create_bank(_SERVICE, bank, kind="pack")
    if target.kind != "pack":
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST,
            f"bank {target.name} is a {target.kind} bank, not a pack bank",
        )
    # the label platforms see in screening results: the pack, not the person's name (the name
    # stays in the stored consent record, for the service's operator)
    pack_id = hashlib.sha256(blob).hexdigest()[:16]
    label = f"pack {pack_id}"
    withdrawn = svc.withdrawn_at(label)
    if withdrawn is not None:
        # the same sealed pack replayed after a withdrawal must not enrol the person again:
        # consenting again means making a new pack (a new consent record)
        raise _bad(f"the consent of this pack was withdrawn on {withdrawn[:10]}: make a new pack")
    earlier = [p for p in svc.list_persons(_SERVICE) if p.label == label]
    if earlier:
        # a retried submission (a timeout, a double click) is stored once
        if earlier[0].owner_key_id != caller.key_id:
            raise _bad("this pack was already submitted by another key")
        return ImportResult(
            target.name,
            0,
            0,
            (f"pack already imported as person {earlier[0].id}: nothing added",),
            earlier[0].id,
        )
    person = svc.add_person(caller, label, contents.consent.as_json())
    added = signals = templates = 0
    skipped: list[str] = []
    try:
        for photo in contents.photos:
            svc.add_content(
                caller,
                target.name,
                photo.signals,
                metadata={"pack": pack_id},
                origin=PACK_ORIGIN,
                person_id=person.id,
            )
            added += 1
            signals += len(photo.signals)
            skipped.extend(photo.skipped)
            if photo.embedding is not None:
                svc.add_face_template(
                    caller, person.id, photo.embedding, contents.face_model or FACE_MODEL_PREFIX
                )
                templates += 1
    except BaseException:
        svc.withdraw_person(_SERVICE, person.id)  # stored whole or not at all
        raise
    svc.record(
        caller,
        "pack.import",
        {
            "bank": target.name,
            "person_id": person.id,
            "pack": pack_id,
            "contents": added,
            "signals": signals,
            "templates": templates,
            "consent_sha256": contents.consent_sha256,
        },
    )
    return ImportResult(target.name, added, signals, tuple(skipped), person.id)


__all__ = [
    "MAX_PACK_BYTES",
    "MAX_PHOTOS",
    "PACK_BANK",
    "PACK_FORMAT",
    "PACK_VERSION",
    "BuiltPack",
    "PackContents",
    "PackError",
    "PackPhoto",
    "PackService",
    "build_pack",
    "import_pack",
    "make_pack",
    "parse_pack",
]
