"""Reading one uploaded file from a request: ``multipart/form-data`` (HMA's way: the field is
named for the content type, ``photo``) or, on /v1, a raw ``image/*`` /
``application/octet-stream`` body. Anything else is 415. The size limit was already enforced
by the guard (auth.py) while the body streamed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from consentry.services.matching.types import MatchErrorCode, MatchServiceError

RAW_TYPES = ("image/", "application/octet-stream")


@dataclass(frozen=True)
class Upload:
    field: str | None  # the multipart field's name; None for a raw body
    data: bytes
    content_type: str | None
    form: dict[str, str]  # the other (text) fields of a multipart body


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_upload(request: Request, *, raw: bool) -> Upload:
    """The one file of the request; ``raw`` also takes a bare image body."""
    kind = media_type(request)
    if kind == "multipart/form-data":
        form = await request.form(max_files=2, max_fields=20)
        files = [(k, v) for k, v in form.multi_items() if isinstance(v, UploadFile)]
        text = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        if not files:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "missing multipart/form-data file upload"
            )
        if len(files) > 1:
            raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "only one file per request")
        name, file = files[0]
        data = await file.read()
        await form.close()
        return Upload(name, data, file.content_type, text)
    if raw and kind.startswith(RAW_TYPES):
        return Upload(None, await request.body(), kind or None, {})
    takes = "multipart/form-data" + (", image/* or application/octet-stream" if raw else "")
    raise MatchServiceError(
        MatchErrorCode.BAD_CONTENT_TYPE,
        f"content type {kind or 'none'!r}: this route takes {takes}",
    )


def _binary() -> dict[str, str]:
    return {"type": "string", "format": "binary"}


def upload_body(field: str, *, raw: bool, extra_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """The OpenAPI requestBody of an upload route (routes parse the body themselves)."""
    props: dict[str, Any] = {field: _binary()}
    for name in extra_fields:
        props[name] = {"type": "string", "maxLength": 2000}
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": props, "required": [field]}
        }
    }
    if raw:
        for kind in ("image/jpeg", "image/png", "application/octet-stream"):
            content[kind] = {"schema": _binary()}
    return {"requestBody": {"required": True, "content": content}}


def raw_body(*kinds: str) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that takes a file as the whole body."""
    return {"requestBody": {"required": True, "content": {k: {"schema": _binary()} for k in kinds}}}


async def read_raw(request: Request, kinds: tuple[str, ...]) -> bytes:
    """The whole body, if its content type is one of ``kinds`` (prefixes), else 415."""
    kind = media_type(request)
    if not kind.startswith(kinds):
        raise MatchServiceError(
            MatchErrorCode.BAD_CONTENT_TYPE,
            f"content type {kind or 'none'!r}: this route takes {', '.join(kinds)}",
        )
    return await request.body()


def require_json(request: Request) -> None:
    """A dependency of the JSON routes: a body that is not JSON is a 415, not a 400."""
    kind = media_type(request)
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise MatchServiceError(
            MatchErrorCode.BAD_CONTENT_TYPE, f"content type {kind!r}: send application/json"
        )
