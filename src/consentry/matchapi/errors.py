"""Every failure leaves the shell as ``{"error": code, "message": one line}`` with the status
its code maps to: a ``MatchServiceError`` (its ``http_status``), a request FastAPI could not
validate (400), an unknown path or method (404 / 405). Bad input never becomes a 5xx (HMA
#1287 answered 500 for a bad hash).

HMA's own errors are ``{"message": ...}``; ours carry the same ``message`` key, so an HMA
client reading it works unchanged.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from consentry.services.matching.types import MatchErrorCode, MatchServiceError

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60  # without the key's rate: a full minute's window always refills a token


class ErrorBody(BaseModel):
    """The one error shape of every route."""

    error: str = Field(description="stable code, e.g. bad_hash, unknown_bank, rate_limited")
    message: str = Field(description="one line for a person")


def _describe(status: int, text: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": text}


# OpenAPI `responses=` for the routes (schemathesis checks answers against these).
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: _describe(401, "no or unknown API key (WWW-Authenticate: Bearer)"),
    403: _describe(403, "the key's role may not do this"),
    429: _describe(429, "the key's rate limit (Retry-After: seconds)"),
}
INPUT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _describe(400, "bad input: a malformed hash, a bad parameter, a bad body"),
    413: _describe(413, "request body over the key's limit"),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _describe(404, "unknown bank or item")}
CONFLICT: dict[int | str, dict[str, Any]] = {409: _describe(409, "that name exists")}
CONTENT_TYPE: dict[int | str, dict[str, Any]] = {
    415: _describe(415, "the body's content type is not one this route takes")
}
UNPROCESSABLE: dict[int | str, dict[str, Any]] = {
    422: _describe(422, "an upload that is not an image, or a pack that does not open")
}


def errors(*groups: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged: dict[int | str, dict[str, Any]] = {}
    for group in (AUTH_ERRORS, INPUT_ERRORS, *groups):
        merged.update(group)
    return merged


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": one_line(message)}, status_code=status, headers=headers
    )


def service_error_response(
    exc: MatchServiceError, *, retry_after_s: int = RETRY_AFTER_S
) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.code is MatchErrorCode.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = "Bearer"
    if exc.code is MatchErrorCode.RATE_LIMITED:
        headers["Retry-After"] = str(retry_after_s)
    return error_response(exc.http_status, exc.code.value, exc.message, headers or None)


def _validation_message(exc: RequestValidationError) -> str:
    problems = exc.errors()
    if not problems:
        return "the request does not match this route"
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "body"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "bad_content_type",
    422: "bad_request",
    429: "rate_limited",
}


def install(app: FastAPI) -> None:
    """The handlers that give every failure the one shape."""

    @app.exception_handler(MatchServiceError)
    async def _service_error(_request: Request, exc: MatchServiceError) -> JSONResponse:
        return service_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, MatchErrorCode.BAD_REQUEST.value, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = HTTP_CODES.get(status, "bad_request" if status < 500 else "internal")
        return error_response(
            status, code, str(exc.detail), dict(exc.headers) if exc.headers else None
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("matchapi: unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; the service log has the cause")
