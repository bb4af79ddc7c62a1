"""The FastAPI application of the matching service: ``create_app(service)`` over an open
``MatchingService``; ``app_from_env()`` is the uvicorn factory for ``--workers`` (each worker
opens its own service on the shared database and keeps its index in step from it).

The app is a shell: it parses, authenticates (auth.py), calls the service and renders; the
service validates, authorizes by role, writes the audit log and owns every SQL statement.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from consentry.matchapi import errors, hma, v1
from consentry.matchapi.auth import DEFAULT_MAX_BODY_BYTES, GuardMiddleware
from consentry.matchapi.port import MatchService

HOME_ENV = "CONSENTRY_SERVICE_HOME"
DB_ENV = "CONSENTRY_SERVICE_DB"

DESCRIPTION = """\
consentry's matching service: hash banks, consented face templates, lookups and upload
screening. The `/status`, `/h`, `/m` and `/c` routes have HMA 1.x's paths and shapes (an HMA
client works unchanged); `/v1` is consentry's own API. Every route but `/status` and this
document needs `Authorization: Bearer <API key>`. Errors: `{"error": code, "message": text}`.
"""


def create_app(
    service: MatchService,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    close_on_shutdown: bool = False,
) -> FastAPI:
    """The HTTP app over ``service``; ``max_body_bytes`` is the limit for a key that sets none;
    ``close_on_shutdown`` when the app owns the service (``app_from_env``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            service.close()

    app = FastAPI(
        lifespan=lifespan,
        title="consentry matching service",
        version="1",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.service = service
    errors.install(app)
    app.include_router(hma.router)
    app.include_router(v1.router)
    app.add_middleware(
        GuardMiddleware,
        service=service,
        default_max_body_bytes=max_body_bytes,
    )
    return app


def app_from_env() -> FastAPI:
    """uvicorn's ``--factory`` entry: the service at ``$CONSENTRY_SERVICE_HOME`` (its
    secrets and default SQLite file) on ``$CONSENTRY_SERVICE_DB`` if set."""
    from consentry.services.matching.service import open_service

    home = os.environ.get(HOME_ENV)
    if not home:
        raise SystemExit(f"{HOME_ENV} is not set: the service's home folder")
    service = open_service(Path(home), os.environ.get(DB_ENV) or None)
    return create_app(service, close_on_shutdown=True)
