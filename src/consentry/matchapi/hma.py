"""HMA 1.x ("OpenMediaMatch", facebook/ThreatExchange hasher-matcher-actioner) routes with
HMA's paths, parameters and answer shapes, so an HMA client works unchanged: /status, /h
(hashing), /m (matching), /c (curation). Learnt from HMA's blueprints (hashing.py,
matching.py, curation.py), its schemas and its tests; the differences are listed in
docs/service.md ("Differences from HMA").

The main ones, visible here: every route but /status needs a bearer key (HMA has no auth);
``url=`` answers 400 (consentry never fetches URLs: it runs offline; upload the file);
errors carry ``{"error", "message"}`` (HMA: ``{"message"}``); a bad hash is a 400, never a 500.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from consentry.matchapi import port
from consentry.matchapi.auth import current_caller, current_service
from consentry.matchapi.errors import CONTENT_TYPE, NOT_FOUND, UNPROCESSABLE, errors
from consentry.matchapi.port import MatchService
from consentry.matchapi.schemas import (
    HmaAdded,
    HmaBank,
    HmaBankCreate,
    HmaBankUpdate,
    HmaContent,
    HmaContentMetadata,
    HmaContentUpdate,
    HmaContentUpdated,
    HmaDeleted,
    HmaIndexStatus,
    HmaMatch,
    HmaMessage,
    HmaRawLookup,
)
from consentry.matchapi.uploads import read_upload, require_json, upload_body
from consentry.services.matching.types import (
    Bank,
    BankContent,
    Caller,
    HashedUpload,
    LookupResult,
    MatchErrorCode,
    MatchServiceError,
    Signal,
    SignalType,
)

router = APIRouter()
CallerDep = Annotated[Caller, Depends(current_caller)]
ServiceDep = Annotated[MatchService, Depends(current_service)]

MIN_PDQ_QUALITY = 50
PDQ_MATCH_THRESHOLD = 31  # pytx PdqSignal.PDQ_CONFIDENT_MATCH_THRESHOLD, what HMA's index uses
OFFLINE = (
    "url= is not supported: consentry never fetches URLs (it runs offline); "
    "upload the file as multipart/form-data field 'photo'"
)
HMA_METADATA_KEYS = ("content_id", "content_uri")
FIVE_YEARS_S = 5 * 365 * 24 * 3600


def _bad(message: str) -> MatchServiceError:
    return MatchServiceError(MatchErrorCode.BAD_REQUEST, message)


# ---------------------------------------------------------------- shared pieces


def _bank_shape(bank: Bank) -> HmaBank:
    """HMA has one knob, the ratio; a consentry-disabled bank shows as ratio 0."""
    ratio = bank.matching_enabled_ratio if bank.enabled else 0.0
    return HmaBank(name=bank.name, matching_enabled_ratio=ratio)


def _banks_param(banks: str | None) -> list[str] | None:
    if not banks:
        return None
    names = [b.strip() for b in banks.split(",") if b.strip()]
    return names or None


def _by_bank(result: LookupResult) -> dict[str, list[HmaMatch]]:
    out: dict[str, list[HmaMatch]] = {}
    for m in result.matches:
        out.setdefault(m.bank, []).append(
            HmaMatch(bank_content_id=m.content_id, distance=str(m.distance))
        )
    return out


def _upload_signals(hashed: HashedUpload, types: str | None) -> list[Signal]:
    """The signals HMA's hasher would give a photo (here pdq, md5, sha256), narrowed by
    ``types=`` as HMA does (an unknown name or an empty selection: 400)."""
    every: list[Signal] = []
    if hashed.pdq is not None:
        every.append(Signal(SignalType.PDQ, hashed.pdq, hashed.pdq_quality))
    every.append(Signal(SignalType.MD5, hashed.md5))
    every.append(Signal(SignalType.SHA256, hashed.sha256))
    if types is None:
        return every
    chosen: list[Signal] = []
    names = {s.signal_type.value: s for s in every}
    for raw in types.split(","):
        name = raw.strip()
        if not name:
            continue
        if name not in {t.value for t in SignalType}:
            raise _bad(f"signal type '{name}' doesn't exist or is disabled")
        if name in names and names[name] not in chosen:
            chosen.append(names[name])
    if not chosen:
        raise _bad("empty signal type selection")
    return chosen


async def _hash_photo(request: Request, types: str | None) -> tuple[list[Signal], dict[str, str]]:
    """HMA's multipart upload: one file whose field is named for its content type."""
    upload = await read_upload(request, raw=False)
    if upload.field != "photo":
        if upload.field == "video":
            raise _bad("content_type 'video' is not supported: consentry hashes photos")
        raise _bad(f"no such content_type: '{upload.field}' (use the field name 'photo')")
    hashed = await run_in_threadpool(port.hash_image, upload.data, upload.content_type)
    return _upload_signals(hashed, types), upload.form


def _signals_dict(signals: Sequence[Signal]) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in signals:
        out.setdefault(s.signal_type.value, s.value)
    return out


def _hma_metadata(content: BankContent) -> HmaContentMetadata | None:
    """consentry keeps metadata as text pairs; HMA's content_id / content_uri map one to one,
    its ``json`` was stored as JSON text, and any other pair joins ``json``."""
    pairs = dict(content.metadata)
    if not pairs:
        return None
    extra: dict[str, object] = {}
    if "json" in pairs:
        try:
            loaded = json.loads(pairs.pop("json"))
        except ValueError:
            loaded = None
        if isinstance(loaded, dict):
            extra.update(loaded)
    for key in list(pairs):
        if key not in HMA_METADATA_KEYS:
            extra[key] = pairs.pop(key)
    return HmaContentMetadata.model_validate(
        {
            "content_id": pairs.get("content_id"),
            "content_uri": pairs.get("content_uri"),
            "json": extra or None,
        }
    )


def _metadata_pairs(meta: HmaContentMetadata | None) -> dict[str, str]:
    if meta is None:
        return {}
    pairs: dict[str, str] = {}
    if meta.content_id is not None:
        pairs["content_id"] = meta.content_id
    if meta.content_uri is not None:
        pairs["content_uri"] = meta.content_uri
    if meta.json_data is not None:
        pairs["json"] = json.dumps(meta.json_data, sort_keys=True, separators=(",", ":"))
    return pairs


def _exists(exc: MatchServiceError) -> JSONResponse:
    """HMA answers 403 "Bank already exists" (an IntegrityError); /v1 answers 409."""
    return JSONResponse({"error": exc.code.value, "message": exc.message}, status_code=403)


def _iso_to_unix(text: str) -> int:
    try:
        return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return -1


# ---------------------------------------------------------------- /status


@router.get(
    "/status",
    tags=["HMA: core"],
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "I-AM-ALIVE",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        503: {
            "description": "INDEX-NOT-LOADED",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
    },
    summary="Health check (no key needed)",
)
def status(svc: ServiceDep) -> PlainTextResponse:
    """HMA's readiness probe: 200 ``I-AM-ALIVE``, 503 ``INDEX-NOT-LOADED`` while no index
    is up (app.py ``status`` in HMA)."""
    indexes = svc.index_status()
    if not any(s.signal_type is SignalType.PDQ for s in indexes):
        return PlainTextResponse("INDEX-NOT-LOADED", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


@router.get(
    "/status/live",
    tags=["HMA: core"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Liveness check (no key needed)",
)
def status_live() -> PlainTextResponse:
    return PlainTextResponse("I-AM-ALIVE")


# ---------------------------------------------------------------- /h hashing


@router.get(
    "/h/hash",
    tags=["HMA: hashing"],
    response_model=dict[str, str],
    responses=errors(),
    summary="Hash content from a URL: refused, consentry never fetches URLs",
)
def hash_get(
    caller: CallerDep,
    url: Annotated[str, Query(max_length=4000)],
    content_type: Annotated[str | None, Query(max_length=100)] = None,
    types: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, str]:
    raise _bad(OFFLINE)


@router.post(
    "/h/hash",
    tags=["HMA: hashing"],
    response_model=dict[str, str],
    responses=errors(CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=upload_body("photo", raw=False),
    summary="Hash an uploaded photo: {signal_type: hash}",
)
async def hash_post(
    request: Request,
    caller: CallerDep,
    types: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, str]:
    signals, _form = await _hash_photo(request, types)
    return _signals_dict(signals)


# ---------------------------------------------------------------- /m matching


def _lookup_one(
    svc: MatchService, caller: Caller, signal: Signal, banks: list[str] | None
) -> LookupResult:
    results = svc.lookup(caller, [signal], banks=banks, threshold=PDQ_MATCH_THRESHOLD)
    return results[0] if results else LookupResult(signal.signal_type, signal.value, ())


@router.get(
    "/m/lookup",
    tags=["HMA: matching"],
    response_model=dict[str, list[HmaMatch]],
    responses=errors(NOT_FOUND),
    summary="Look up a hash: {bank: [{bank_content_id, distance}]}",
)
def lookup_get(
    caller: CallerDep,
    svc: ServiceDep,
    signal: Annotated[str | None, Query(max_length=200)] = None,
    signal_type: Annotated[str | None, Query(max_length=50)] = None,
    banks: Annotated[str | None, Query(max_length=4000)] = None,
    url: Annotated[str | None, Query(max_length=4000)] = None,
    content_type: Annotated[str | None, Query(max_length=100)] = None,
    types: Annotated[str | None, Query(max_length=200)] = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> dict[str, list[HmaMatch]]:
    if url:
        raise _bad(OFFLINE)
    if not signal or not signal_type:
        raise _bad("Either url or both signal and signal_type are required")
    parsed = port.parse_signal(signal_type, signal)
    return _by_bank(_lookup_one(svc, caller, parsed, _banks_param(banks)))


@router.post(
    "/m/lookup",
    tags=["HMA: matching"],
    response_model=dict[str, dict[str, list[HmaMatch]]],
    responses=errors(NOT_FOUND, CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=upload_body("photo", raw=False),
    summary="Hash an uploaded photo and look it up: {signal_type: {bank: [...]}}",
)
async def lookup_post(
    request: Request,
    caller: CallerDep,
    svc: ServiceDep,
    banks: Annotated[str | None, Query(max_length=4000)] = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> dict[str, dict[str, list[HmaMatch]]]:
    signals, _form = await _hash_photo(request, request.query_params.get("types"))
    # a PDQ under quality 50 would match featureless images: not looked up (empty answer)
    queries = [s for s in signals if s.quality is None or s.quality >= MIN_PDQ_QUALITY]
    results = await run_in_threadpool(
        lambda: svc.lookup(
            caller, queries, banks=_banks_param(banks), threshold=PDQ_MATCH_THRESHOLD
        )
    )
    out: dict[str, dict[str, list[HmaMatch]]] = {s.signal_type.value: {} for s in signals}
    for result in results:
        out[result.signal_type.value] = _by_bank(result)
    return out


@router.get(
    "/m/raw_lookup",
    tags=["HMA: matching"],
    response_model=HmaRawLookup,
    responses=errors(NOT_FOUND),
    summary="Look up a hash: {matches: [content ids]} (or with distances)",
)
def raw_lookup(
    caller: CallerDep,
    svc: ServiceDep,
    signal: Annotated[str, Query(max_length=200)],
    signal_type: Annotated[str, Query(max_length=50)],
    banks: Annotated[str | None, Query(max_length=4000)] = None,
    include_distance: bool = False,
) -> HmaRawLookup:
    parsed = port.parse_signal(signal_type, signal)
    result = _lookup_one(svc, caller, parsed, _banks_param(banks))
    if include_distance:
        return HmaRawLookup(
            matches=[
                HmaMatch(bank_content_id=m.content_id, distance=str(m.distance))
                for m in result.matches
            ]
        )
    return HmaRawLookup(matches=[m.content_id for m in result.matches])


class HmaDistance(BaseModel):
    distance: int


# HMA's pytx SignalComparisonResult (a NamedTuple) goes out as [match, {"distance": n}]
HmaComparison = Annotated[list[bool | HmaDistance], Field(min_length=2, max_length=2)]


@router.post(
    "/m/compare",
    tags=["HMA: matching"],
    response_model=dict[str, HmaComparison],
    responses=errors(CONTENT_TYPE),
    dependencies=[Depends(require_json)],
    summary="Compare pairs of hashes: {signal_type: [match, {distance}]}",
)
def compare(
    caller: CallerDep,
    svc: ServiceDep,
    body: Annotated[dict[str, list[str]], Body(max_length=10)],
) -> dict[str, HmaComparison]:
    out: dict[str, HmaComparison] = {}
    for name, pair in body.items():
        if len(pair) != 2:
            raise _bad("Comparison hash list length must be exactly 2")
        left = port.parse_signal(name, pair[0])
        right = port.parse_signal(name, pair[1])
        distance = svc.compare(left, right)
        limit = PDQ_MATCH_THRESHOLD if left.signal_type is SignalType.PDQ else 0
        out[name] = [distance <= limit, HmaDistance(distance=distance)]
    return out


@router.get(
    "/m/index/status",
    tags=["HMA: matching"],
    response_model=dict[str, HmaIndexStatus],
    responses=errors(),
    summary="Index status: {signal_type: {present, built_to, size}}",
)
def index_status(
    caller: CallerDep,
    svc: ServiceDep,
    signal_type: Annotated[str | None, Query(max_length=50)] = None,
) -> dict[str, HmaIndexStatus]:
    if signal_type is not None and signal_type not in {t.value for t in SignalType}:
        raise _bad(f"No such signal type '{signal_type}'")
    out: dict[str, HmaIndexStatus] = {
        t.value: HmaIndexStatus(present=False, built_to=-1, size=0) for t in SignalType
    }
    for s in svc.index_status():
        out[s.signal_type.value] = HmaIndexStatus(
            present=bool(s.built_at), built_to=_iso_to_unix(s.updated_at), size=s.size
        )
    if signal_type is not None:
        return {signal_type: out[signal_type]}
    return out


# ---------------------------------------------------------------- /c curation


@router.get(
    "/c/banks",
    tags=["HMA: curation"],
    response_model=list[HmaBank],
    responses=errors(),
    summary="List banks",
)
def banks_index(caller: CallerDep, svc: ServiceDep) -> list[HmaBank]:
    return [_bank_shape(b) for b in svc.list_banks(caller)]


@router.post(
    "/c/banks",
    tags=["HMA: curation"],
    status_code=201,
    response_model=HmaBank,
    responses=errors(CONTENT_TYPE),
    dependencies=[Depends(require_json)],
    summary="Create a bank (403 if it exists, as HMA)",
)
def bank_create(caller: CallerDep, svc: ServiceDep, body: HmaBankCreate) -> HmaBank | JSONResponse:
    if body.enabled_ratio is not None:
        ratio = body.enabled_ratio
    elif body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    else:
        ratio = 1.0
    try:
        bank = svc.create_bank(caller, body.name, enabled=ratio > 0.0, matching_enabled_ratio=ratio)
    except MatchServiceError as exc:
        if exc.code is MatchErrorCode.BANK_EXISTS:
            # HMA answers 403 "Bank already exists"; /v1 answers 409
            return _exists(exc)
        raise
    return _bank_shape(bank)


@router.get(
    "/c/bank/{bank_name}",
    tags=["HMA: curation"],
    response_model=HmaBank,
    responses=errors(NOT_FOUND),
    summary="Get a bank",
)
def bank_show(caller: CallerDep, svc: ServiceDep, bank_name: str) -> HmaBank:
    return _bank_shape(svc.get_bank(caller, bank_name))


@router.put(
    "/c/bank/{bank_name}",
    tags=["HMA: curation"],
    response_model=HmaBank,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=[Depends(require_json)],
    summary="Update a bank (rename, enabled, enabled_ratio)",
)
def bank_update(
    caller: CallerDep, svc: ServiceDep, bank_name: str, body: HmaBankUpdate
) -> HmaBank | JSONResponse:
    ratio: float | None = None
    if body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    if body.enabled_ratio is not None:
        ratio = body.enabled_ratio
    try:
        bank = svc.update_bank(
            caller,
            bank_name,
            rename=body.name,
            enabled=None if ratio is None else ratio > 0.0,
            matching_enabled_ratio=ratio,
        )
    except MatchServiceError as exc:
        if exc.code is MatchErrorCode.BANK_EXISTS:
            return _exists(exc)
        raise
    return _bank_shape(bank)


@router.delete(
    "/c/bank/{bank_name}",
    tags=["HMA: curation"],
    response_model=HmaMessage,
    responses=errors(),
    summary="Delete a bank (200 even if it was not there, as HMA)",
)
def bank_delete(caller: CallerDep, svc: ServiceDep, bank_name: str) -> HmaMessage:
    try:
        svc.delete_bank(caller, bank_name)
    except MatchServiceError as exc:
        if exc.code is not MatchErrorCode.UNKNOWN_BANK:
            raise
    return HmaMessage(message="Done")


@router.get(
    "/c/bank/{bank_name}/content/{content_id}",
    tags=["HMA: curation"],
    responses={200: {"model": HmaContent}, **errors(NOT_FOUND)},
    summary="Get a bank's content item",
)
def content_get(
    caller: CallerDep,
    svc: ServiceDep,
    bank_name: str,
    content_id: int,
    include_signals: Annotated[str, Query(max_length=10)] = "false",
    include_metadata: Annotated[str, Query(max_length=10)] = "true",
) -> JSONResponse:
    bank = svc.get_bank(caller, bank_name)
    content = svc.get_content(caller, bank.name, content_id)
    shape = HmaContent(
        id=content.id,
        disable_until_ts=1 if content.enabled else 0,
        original_media_uri=None,
        bank=_bank_shape(bank),
        signals=_signals_dict(content.signals) if include_signals.lower() == "true" else None,
        metadata=_hma_metadata(content) if include_metadata.lower() == "true" else None,
        note=content.note,
    )
    body = shape.model_dump(by_alias=True, mode="json")
    for key in ("signals", "metadata", "note"):
        if body[key] is None:
            del body[key]
    return JSONResponse(body)


@router.put(
    "/c/bank/{bank_name}/content/{content_id}",
    tags=["HMA: curation"],
    response_model=HmaContentUpdated,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=[Depends(require_json)],
    summary="Update a content item (disable_until_ts, note)",
)
def content_update(
    caller: CallerDep,
    svc: ServiceDep,
    bank_name: str,
    content_id: int,
    body: HmaContentUpdate,
) -> HmaContentUpdated:
    bank = svc.get_bank(caller, bank_name)
    enabled: bool | None = None
    ts = body.disable_until_ts
    if ts is not None:
        if ts < 0:
            raise _bad("disable_until_ts must be a non-negative integer")
        if ts > time.time() + FIVE_YEARS_S:
            raise _bad("disable_until_ts must be less than 5 years in the future")
        # HMA's magic values: 0 disabled, 1 enabled; a time: disabled until then. consentry
        # keeps one flag, so a future time disables (re-enable with 1), a past one enables.
        enabled = ts == 1 or (ts > 1 and ts <= time.time())
    content = svc.update_content(caller, bank.name, content_id, enabled=enabled, note=body.note)
    meta = _hma_metadata(content)
    return HmaContentUpdated(
        id=content.id,
        disable_until_ts=ts if ts is not None else (1 if content.enabled else 0),
        collab_metadata={},
        original_media_uri=None,
        bank=_bank_shape(bank),
        user_metadata=meta.model_dump(by_alias=True, exclude_none=True) if meta else None,
        note=content.note,
    )


@router.delete(
    "/c/bank/{bank_name}/content/{content_id}",
    tags=["HMA: curation"],
    response_model=HmaDeleted,
    responses=errors(NOT_FOUND),
    summary="Remove a content item: {deleted: 0|1}",
)
def content_delete(
    caller: CallerDep, svc: ServiceDep, bank_name: str, content_id: int
) -> HmaDeleted:
    bank = svc.get_bank(caller, bank_name)
    try:
        svc.delete_content(caller, bank.name, content_id)
    except MatchServiceError as exc:
        if exc.code is MatchErrorCode.NOT_FOUND:
            return HmaDeleted(deleted=0)
        raise
    return HmaDeleted(deleted=1)


@router.post(
    "/c/bank/{bank_name}/signal",
    tags=["HMA: curation"],
    response_model=HmaAdded,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=[Depends(require_json)],
    summary="Add content by its hashes: {signal_type: hash, note?}",
)
def add_signal(
    caller: CallerDep,
    svc: ServiceDep,
    bank_name: str,
    body: Annotated[dict[str, str | None], Body(max_length=10)],
) -> HmaAdded:
    bank = svc.get_bank(caller, bank_name)
    values = dict(body)
    note = values.pop("note", None) or None
    if note is not None and len(note) > 255:
        raise _bad("note must be at most 255 characters")
    signals = [port.parse_signal(name, value or "") for name, value in values.items()]
    if not signals:
        raise _bad("No signals given")
    content = svc.add_content(caller, bank.name, signals, note=note, origin="api")
    return HmaAdded(id=content.id, signals=_signals_dict(content.signals or tuple(signals)))


@router.post(
    "/c/bank/{bank_name}/content",
    tags=["HMA: curation"],
    response_model=HmaAdded,
    responses=errors(NOT_FOUND, CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=upload_body("photo", raw=False, extra_fields=("metadata", "note")),
    summary="Add an uploaded photo to a bank: {id, signals}",
)
async def add_content(
    request: Request,
    caller: CallerDep,
    svc: ServiceDep,
    bank_name: str,
    url: Annotated[str | None, Query(max_length=4000)] = None,
    content_type: Annotated[str | None, Query(max_length=100)] = None,
    types: Annotated[str | None, Query(max_length=200)] = None,
) -> HmaAdded:
    bank = await run_in_threadpool(svc.get_bank, caller, bank_name)
    if url:
        raise _bad(OFFLINE)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise _bad("Neither `url` nor multipart file upload was received")
    signals, form = await _hash_photo(request, types)
    metadata: HmaContentMetadata | None = None
    if "metadata" in form:
        try:
            raw = json.loads(form["metadata"])
        except ValueError as exc:
            raise _bad("metadata form field must be valid JSON") from exc
        if not isinstance(raw, dict):
            raise _bad("metadata should be a json object")
        raw.pop("collab", None)
        try:
            metadata = HmaContentMetadata.model_validate(raw)
        except ValueError as exc:
            raise _bad(f"Invalid metadata: {str(exc).splitlines()[0]}") from exc
    note = form.get("note") or None
    if note is not None and len(note) > 255:
        raise _bad("note must be at most 255 characters")
    content = await run_in_threadpool(
        lambda: svc.add_content(
            caller,
            bank.name,
            signals,
            note=note,
            metadata=_metadata_pairs(metadata),
            origin="api",
        )
    )
    return HmaAdded(id=content.id, signals=_signals_dict(content.signals or tuple(signals)))
