"""Bearer keys, rate limits and body-size limits, enforced before a route runs.

Why an ASGI middleware and not a FastAPI dependency: FastAPI reads (and parses) a request's
body before it solves a route's dependencies, so a dependency cannot refuse an oversized
upload before it has been read. The guard knows the caller from the ``Authorization`` header
alone, refuses a declared ``Content-Length`` over the caller's ``max_body_bytes`` at once, and
counts the bytes of a body without one (chunked) as they stream in, answering 413 the moment
the count passes the limit (the route then sees a disconnect and its answer is replaced).

Public: ``/status`` (a load balancer's probe) and the OpenAPI document; everything else needs
``Authorization: Bearer <token>``, checked by ``svc.authenticate`` (401 with
``WWW-Authenticate: Bearer``) and ``svc.check_rate`` (429 with ``Retry-After``).
"""

from __future__ import annotations

import math
from typing import Any

from anyio import to_thread
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentry.matchapi.errors import RETRY_AFTER_S, error_response, service_error_response
from consentry.matchapi.port import MatchService
from consentry.services.matching.types import (
    Caller,
    MatchErrorCode,
    MatchServiceError,
)

DEFAULT_MAX_BODY_BYTES = 10_000_000
PUBLIC_PATHS = frozenset({"/status", "/status/live", "/openapi.json"})

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="an API key from `consentry service key add --role ROLE NAME`",
)


def bearer_token(header: str | None) -> str | None:
    """The token of ``Bearer <token>``; None for no header or another scheme."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def retry_after_s(caller: Caller | None) -> int:
    """Seconds until a key's token bucket holds one request again: 60 / its rate a minute."""
    if caller is None or caller.rate_per_minute <= 0:
        return RETRY_AFTER_S
    return max(1, math.ceil(60 / caller.rate_per_minute))


class _TooLarge:
    """Set by the counting receive when a streamed body passes the limit."""

    def __init__(self) -> None:
        self.hit = False


class GuardMiddleware:
    """Authenticate, rate-limit and size-limit every HTTP request (see the module text)."""

    def __init__(
        self,
        app: ASGIApp,
        service: MatchService,
        default_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.service = service
        self.default_max_body_bytes = default_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller: Caller | None = None
        if scope["path"] not in PUBLIC_PATHS:
            try:
                caller = await self._authenticate(headers.get("authorization"))
                await to_thread.run_sync(self.service.check_rate, caller)
            except MatchServiceError as exc:
                wait = retry_after_s(caller)
                await service_error_response(exc, retry_after_s=wait)(scope, receive, send)
                return
        scope.setdefault("state", {})["caller"] = caller
        limit = (caller.max_body_bytes if caller else 0) or self.default_max_body_bytes

        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await error_response(400, "bad_request", "Content-Length is not a number")(
                    scope, receive, send
                )
                return
            if int(declared) > limit:
                await self._too_large(limit)(scope, receive, send)
                return

        state = _TooLarge()
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    state.hit = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if state.hit:
                return  # the route's answer to a cut-off body is replaced by the 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except ClientDisconnect:
            if not state.hit:
                raise  # a real client that went away: nothing to answer
        if state.hit and not started:
            await self._too_large(limit)(scope, receive, send)

    async def _authenticate(self, header: str | None) -> Caller:
        token = bearer_token(header)
        if token is None:
            raise MatchServiceError(
                MatchErrorCode.UNAUTHENTICATED, "send an API key as 'Authorization: Bearer <key>'"
            )
        caller: Caller = await to_thread.run_sync(self.service.authenticate, token)
        return caller

    @staticmethod
    def _too_large(limit: int) -> Any:
        return error_response(
            413, MatchErrorCode.TOO_LARGE.value, f"request body over this key's {limit} bytes"
        )


def current_caller(
    request: Request,
    _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
) -> Caller:
    """The caller the guard authenticated (the Security parameter puts the bearer scheme in
    the OpenAPI document; the token itself was checked before the route ran)."""
    caller: Caller | None = getattr(request.state, "caller", None)
    if caller is None:
        raise MatchServiceError(MatchErrorCode.UNAUTHENTICATED, "this route needs an API key")
    return caller


def current_service(request: Request) -> MatchService:
    service: MatchService = request.app.state.service
    return service
