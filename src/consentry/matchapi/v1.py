"""consentry's own API under /v1: what HMA does not have.

- ``POST /v1/match``: an upload in, its hashes and every match (with distances and the
  matched item's bank and metadata) out, in one call (HMA #1827 asks for this). Mirrored and
  rotated copies match: the upload's eight dihedral PDQ variants are looked up together.
- ``POST /v1/lookup``: up to 1,000 hashes (pdq, md5, sha256) in one call.
- banks and content CRUD; ``import`` (hashpack zip, pytx ``pdq <hex>`` lines, CSV) and
  ``export`` (pytx, csv); MD5 / SHA-256 exact banks are content with those signal types.
- ``POST /v1/screen``: an upload → ``block`` / ``review`` / ``allow`` with reasons and
  distances; only labels and scores come back, never the upload.
- ``POST /v1/packs`` (a victim's sealed pack), ``GET /v1/pack-key``, ``GET /v1/persons``,
  ``DELETE /v1/persons/{id}`` (consent withdrawal), index status, the audit log, API keys.

Roles are the service's to check (every method takes the caller); the shell only maps.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from consentry.matchapi import port
from consentry.matchapi.auth import current_caller, current_service
from consentry.matchapi.errors import CONFLICT, CONTENT_TYPE, NOT_FOUND, UNPROCESSABLE, errors
from consentry.matchapi.port import MatchService
from consentry.matchapi.schemas import (
    AuditOut,
    BankIn,
    BankOut,
    BankPatch,
    ContentIn,
    ContentOut,
    ContentPatch,
    ImportOut,
    IndexStatusOut,
    KeyIn,
    KeyOut,
    LookupIn,
    LookupOut,
    MatchUploadOut,
    NewKeyOut,
    PackKeyOut,
    PersonOut,
    ScreenOut,
    SignalIn,
    WithdrawalOut,
    audit_out,
    bank_out,
    content_out,
    hashes_out,
    import_out,
    index_out,
    key_out,
    match_out,
    new_key_out,
    person_out,
    result_out,
    screen_out,
    withdrawal_out,
)
from consentry.matchapi.uploads import (
    raw_body,
    read_raw,
    read_upload,
    require_json,
    upload_body,
)
from consentry.services.matching.types import (
    Caller,
    HashedUpload,
    LookupResult,
    Match,
    MatchServiceError,
    Signal,
    SignalType,
)

router = APIRouter(prefix="/v1")
CallerDep = Annotated[Caller, Depends(current_caller)]
ServiceDep = Annotated[MatchService, Depends(current_service)]
JSON_BODY = [Depends(require_json)]
BankName = Annotated[str, Path(max_length=200)]
Threshold = Annotated[int, Query(ge=0, le=31, description="PDQ: most bits apart")]
BanksParam = Annotated[
    str | None, Query(max_length=4000, description="comma-separated bank names; all if absent")
]

MIN_PDQ_QUALITY = 50  # below it a PDQ hash matches too much to be looked up (issue 15)
IMPORT_TYPES = ("application/zip", "text/", "application/octet-stream")
PACK_TYPES = ("application/octet-stream",)


def _banks(text: str | None) -> list[str] | None:
    names = [b.strip() for b in (text or "").split(",") if b.strip()]
    return names or None


def _signal(item: SignalIn, index: int) -> Signal:
    try:
        return port.parse_signal(item.signal_type.value, item.value, item.quality)
    except MatchServiceError as exc:
        raise MatchServiceError(exc.code, f"signals[{index}]: {exc.message}") from exc


# ---------------------------------------------------------------- matching


def upload_queries(hashed: HashedUpload) -> tuple[list[Signal], int]:
    """The signals to look an upload up by, and how many of them are PDQ variants (first).
    A PDQ below quality 50 is left out: it would match featureless images."""
    pdq: list[Signal] = []
    if hashed.pdq is not None and (hashed.pdq_quality or 0) >= MIN_PDQ_QUALITY:
        for value in (hashed.pdq, *hashed.pdq_dihedral):
            s = Signal(SignalType.PDQ, value, hashed.pdq_quality)
            if s not in pdq:
                pdq.append(s)
    exact = [Signal(SignalType.MD5, hashed.md5), Signal(SignalType.SHA256, hashed.sha256)]
    return pdq + exact, len(pdq)


def fold_variants(results: list[LookupResult], variants: int, query: str) -> list[LookupResult]:
    """One PDQ result for the upload: the best distance per content item over its variants."""
    if variants == 0:
        return results
    best: dict[tuple[str, int], Match] = {}
    for result in results[:variants]:
        for m in result.matches:
            key = (m.bank, m.content_id)
            if key not in best or m.distance < best[key].distance:
                best[key] = m
    merged = tuple(sorted(best.values(), key=lambda m: (m.distance, m.bank, m.content_id)))
    return [LookupResult(SignalType.PDQ, query, merged), *results[variants:]]


@router.post(
    "/match",
    tags=["v1: matching"],
    response_model=MatchUploadOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=upload_body("file", raw=True),
    summary="Hash an upload and return its matches, with distances and metadata",
)
async def match_upload(
    request: Request,
    caller: CallerDep,
    svc: ServiceDep,
    banks: BanksParam = None,
    threshold: Threshold = 31,
) -> MatchUploadOut:
    upload = await read_upload(request, raw=True)
    hashed = await run_in_threadpool(port.hash_image, upload.data, upload.content_type)
    queries, variants = upload_queries(hashed)
    results = await run_in_threadpool(
        lambda: svc.lookup(caller, queries, banks=_banks(banks), threshold=threshold)
    )
    folded = fold_variants(results, variants, hashed.pdq or "")
    matches = sorted(
        (m for r in folded for m in r.matches),
        key=lambda m: (m.distance, m.signal_type.value, m.bank, m.content_id),
    )
    return MatchUploadOut(
        hashes=hashes_out(hashed),
        matches=[match_out(m) for m in matches],
        results=[result_out(r) for r in folded],
    )


@router.post(
    "/lookup",
    tags=["v1: matching"],
    response_model=LookupOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=JSON_BODY,
    summary="Look up to 1,000 hashes in one call",
)
def lookup(caller: CallerDep, svc: ServiceDep, body: LookupIn) -> LookupOut:
    signals = [_signal(item, i) for i, item in enumerate(body.signals)]
    results = svc.lookup(caller, signals, banks=body.banks, threshold=body.threshold)
    return LookupOut(results=[result_out(r) for r in results])


@router.post(
    "/screen",
    tags=["v1: matching"],
    response_model=ScreenOut,
    responses=errors(CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=upload_body("file", raw=True),
    summary="Screen an upload: block / review / allow, with reasons and distances",
)
async def screen(request: Request, caller: CallerDep, svc: ServiceDep) -> ScreenOut:
    upload = await read_upload(request, raw=True)
    result = await run_in_threadpool(port.screen, svc, caller, upload.data, upload.content_type)
    return screen_out(result)


@router.get(
    "/index/status",
    tags=["v1: matching"],
    response_model=list[IndexStatusOut],
    responses=errors(),
    summary="Each index: size, last build, last change applied, memory",
)
def index_status(caller: CallerDep, svc: ServiceDep) -> list[IndexStatusOut]:
    return [index_out(s) for s in svc.index_status()]


# ---------------------------------------------------------------- banks and content


@router.get("/banks", tags=["v1: banks"], response_model=list[BankOut], responses=errors())
def list_banks(caller: CallerDep, svc: ServiceDep) -> list[BankOut]:
    return [bank_out(b) for b in svc.list_banks(caller)]


@router.post(
    "/banks",
    tags=["v1: banks"],
    status_code=201,
    response_model=BankOut,
    responses=errors(CONFLICT, CONTENT_TYPE),
    dependencies=JSON_BODY,
)
def create_bank(caller: CallerDep, svc: ServiceDep, body: BankIn) -> BankOut:
    bank = svc.create_bank(
        caller,
        body.name,
        enabled=body.enabled,
        matching_enabled_ratio=body.matching_enabled_ratio,
        kind=body.kind,
    )
    return bank_out(bank)


@router.get(
    "/banks/{name}", tags=["v1: banks"], response_model=BankOut, responses=errors(NOT_FOUND)
)
def get_bank(caller: CallerDep, svc: ServiceDep, name: BankName) -> BankOut:
    return bank_out(svc.get_bank(caller, name))


@router.patch(
    "/banks/{name}",
    tags=["v1: banks"],
    response_model=BankOut,
    responses=errors(NOT_FOUND, CONFLICT, CONTENT_TYPE),
    dependencies=JSON_BODY,
)
def update_bank(caller: CallerDep, svc: ServiceDep, name: BankName, body: BankPatch) -> BankOut:
    bank = svc.update_bank(
        caller,
        name,
        rename=body.rename,
        enabled=body.enabled,
        matching_enabled_ratio=body.matching_enabled_ratio,
    )
    return bank_out(bank)


@router.delete("/banks/{name}", tags=["v1: banks"], status_code=204, responses=errors(NOT_FOUND))
def delete_bank(caller: CallerDep, svc: ServiceDep, name: BankName) -> Response:
    svc.delete_bank(caller, name)
    return Response(status_code=204)


@router.post(
    "/banks/{name}/content",
    tags=["v1: banks"],
    status_code=201,
    response_model=ContentOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=JSON_BODY,
    summary="Add one item by its hashes (pdq, md5, sha256: exact banks are md5/sha256 items)",
)
def add_content(caller: CallerDep, svc: ServiceDep, name: BankName, body: ContentIn) -> ContentOut:
    signals = [_signal(item, i) for i, item in enumerate(body.signals)]
    content = svc.add_content(
        caller,
        name,
        signals,
        note=body.note,
        metadata=body.metadata,
        origin="api",
        person_id=body.person_id,
    )
    return content_out(content)


@router.get(
    "/banks/{name}/content/{content_id}",
    tags=["v1: banks"],
    response_model=ContentOut,
    responses=errors(NOT_FOUND),
)
def get_content(caller: CallerDep, svc: ServiceDep, name: BankName, content_id: int) -> ContentOut:
    return content_out(svc.get_content(caller, name, content_id))


@router.patch(
    "/banks/{name}/content/{content_id}",
    tags=["v1: banks"],
    response_model=ContentOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    dependencies=JSON_BODY,
)
def update_content(
    caller: CallerDep, svc: ServiceDep, name: BankName, content_id: int, body: ContentPatch
) -> ContentOut:
    content = svc.update_content(
        caller, name, content_id, enabled=body.enabled, note=body.note, metadata=body.metadata
    )
    return content_out(content)


@router.delete(
    "/banks/{name}/content/{content_id}",
    tags=["v1: banks"],
    status_code=204,
    responses=errors(NOT_FOUND),
)
def delete_content(caller: CallerDep, svc: ServiceDep, name: BankName, content_id: int) -> Response:
    svc.delete_content(caller, name, content_id)
    return Response(status_code=204)


@router.post(
    "/banks/{name}/import",
    tags=["v1: banks"],
    response_model=ImportOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE),
    openapi_extra=raw_body("application/zip", "text/plain", "text/csv", "application/octet-stream"),
    summary="Import a hashpack zip, pytx `pdq <hex>` lines or CSV; bad lines are listed",
)
async def import_hashes(
    request: Request,
    caller: CallerDep,
    svc: ServiceDep,
    name: BankName,
    format: Literal["auto", "hashpack", "pytx", "csv"] = "auto",  # noqa: A002 - the API's name
) -> ImportOut:
    data = await read_raw(request, IMPORT_TYPES)
    result = await run_in_threadpool(svc.import_hashes, caller, name, data, format)
    return import_out(result)


@router.get(
    "/banks/{name}/export",
    tags=["v1: banks"],
    response_class=Response,
    responses={
        200: {
            "description": "pytx: `pdq <hex>` lines; csv: signal_type,value,quality,note",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **errors(NOT_FOUND),
    },
    summary="Export a bank's hashes",
)
def export_bank(
    caller: CallerDep,
    svc: ServiceDep,
    name: BankName,
    format: Literal["pytx", "csv"] = "pytx",  # noqa: A002 - the API's name
) -> Response:
    data = svc.export_bank(caller, name, format)
    kind = "text/csv" if format == "csv" else "text/plain"
    filename = f"{name}.{'csv' if format == 'csv' else 'txt'}"
    return Response(
        data,
        media_type=kind,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---------------------------------------------------------------- packs and persons


@router.get(
    "/pack-key",
    tags=["v1: persons"],
    response_model=PackKeyOut,
    responses=errors(),
    summary="The public key victims seal their packs to (`consentry pack --to`)",
)
def pack_key(caller: CallerDep, svc: ServiceDep) -> PackKeyOut:
    return PackKeyOut(public_key=svc.pack_public_key())


@router.post(
    "/packs",
    tags=["v1: persons"],
    response_model=ImportOut,
    responses=errors(NOT_FOUND, CONTENT_TYPE, UNPROCESSABLE),
    openapi_extra=raw_body("application/octet-stream"),
    summary="Take in a victim's sealed pack (hashes and a face template, no image)",
)
async def submit_pack(
    request: Request,
    caller: CallerDep,
    svc: ServiceDep,
    bank: Annotated[str, Query(max_length=200)] = "VICTIM_PACKS",
) -> ImportOut:
    blob = await read_raw(request, PACK_TYPES)
    result = await run_in_threadpool(lambda: port.import_pack(svc, caller, blob, bank=bank))
    return import_out(result)


@router.get(
    "/persons",
    tags=["v1: persons"],
    response_model=list[PersonOut],
    responses=errors(),
    summary="Consented persons (an advocate sees its own only)",
)
def list_persons(caller: CallerDep, svc: ServiceDep) -> list[PersonOut]:
    return [person_out(p) for p in svc.list_persons(caller)]


@router.delete(
    "/persons/{person_id}",
    tags=["v1: persons"],
    response_model=WithdrawalOut,
    responses=errors(NOT_FOUND),
    summary="Consent withdrawn: delete the person's templates and hashes everywhere",
)
def withdraw_person(caller: CallerDep, svc: ServiceDep, person_id: int) -> WithdrawalOut:
    return withdrawal_out(svc.withdraw_person(caller, person_id))


# ---------------------------------------------------------------- admin


@router.get(
    "/audit",
    tags=["v1: admin"],
    response_model=list[AuditOut],
    responses=errors(),
    summary="The service's audit log, newest first (admin)",
)
def audit(
    caller: CallerDep,
    svc: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    return [audit_out(a) for a in svc.audit_log(caller, limit=limit)]


@router.get("/keys", tags=["v1: admin"], response_model=list[KeyOut], responses=errors())
def list_keys(caller: CallerDep, svc: ServiceDep) -> list[KeyOut]:
    return [key_out(k) for k in svc.list_keys(caller)]


@router.post(
    "/keys",
    tags=["v1: admin"],
    status_code=201,
    response_model=NewKeyOut,
    responses=errors(CONTENT_TYPE),
    dependencies=JSON_BODY,
    summary="Add an API key (admin); the token is in this answer only",
)
def add_key(caller: CallerDep, svc: ServiceDep, body: KeyIn) -> NewKeyOut:
    new = svc.add_key(
        caller,
        body.role,
        body.name,
        rate_per_minute=body.rate_per_minute,
        max_body_bytes=body.max_body_bytes,
    )
    return new_key_out(new)


@router.delete("/keys/{key_id}", tags=["v1: admin"], status_code=204, responses=errors(NOT_FOUND))
def disable_key(caller: CallerDep, svc: ServiceDep, key_id: int) -> Response:
    svc.disable_key(caller, key_id)
    return Response(status_code=204)
