"""The web app: ``create_app(handle)`` builds the FastAPI application over one open case.

Routes live in ``pages`` (review, persons, audit) and ``workflow`` (requests); login and
sessions in ``auth``. Every response carries the security headers; a ``ServiceError`` becomes
the error page (or a small fragment for an htmx request) with the status its code maps to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from consentry.services.case import CaseHandle, CaseRef, ErrorCode, ServiceError

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
STATUS = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.MISUSE: 400,
    ErrorCode.CASE: 409,
    ErrorCode.TAMPERED: 409,
    ErrorCode.SCAN_FAILED: 409,
    ErrorCode.RATE_LIMITED: 429,
}
HEADINGS = {
    400: "That cannot be done as asked",
    403: "Not allowed",
    404: "Not found",
    409: "The case cannot do that now",
    429: "Too many attempts",
    500: "Something went wrong",
}


def error_response(request: Request, status: int, message: str) -> Response:
    """The error page (or, for htmx, a fragment) with one sentence."""
    heading = HEADINGS.get(status, "Error")
    text = message[:1].upper() + message[1:]
    if not text.endswith("."):
        text += "."
    templates: Jinja2Templates = request.app.state.templates
    if request.headers.get("HX-Request"):
        return templates.TemplateResponse(
            request, "_error_fragment.html", {"message": text}, status_code=status
        )
    from consentry.web.pages import base_context

    ctx: dict[str, Any] = {"heading": heading, "message": text, "title": heading}
    ctx.update(base_context(request, None, ""))
    return templates.TemplateResponse(request, "error.html", ctx, status_code=status)


def create_app(handle: CaseHandle | CaseRef, secure_cookies: bool = True) -> FastAPI:
    """The web app over ``handle`` (a ``CaseRef`` is opened into one); ``secure_cookies``
    False only for plain http on loopback."""
    from consentry.web import auth, pages, workflow

    if isinstance(handle, CaseRef):
        handle = CaseHandle(handle)

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, title="consentry")
    app.state.case = handle
    app.state.secure_cookies = secure_cookies
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        if exc.code is ErrorCode.UNAUTHENTICATED:
            return RedirectResponse("/login", status_code=303)
        return error_response(request, STATUS.get(exc.code, 400), exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (301, 302, 303, 307) and exc.headers:
            return Response(status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return error_response(request, 404, "There is no such page here")
        if exc.status_code == 405:
            return error_response(request, 400, "That page does not take this kind of request")
        detail = exc.detail if isinstance(exc.detail, str) else "That request was refused"
        return error_response(request, exc.status_code, detail)

    auth.install(app)
    deps = [Depends(auth.verify_csrf)]
    app.include_router(pages.router, dependencies=deps)
    app.include_router(workflow.router, dependencies=deps)
    return app


__all__ = ["create_app", "error_response"]
