"""Login, logout, sessions and CSRF for the web app. Thin: the services check the password,
keep the sessions and write the audit events.

Part D's use: ``auth.install(app)`` (the routes, and the handlers that turn ``NotLoggedIn``
into a 303 to ``/login?next=...`` and ``CsrfRefused`` into a 403), ``Depends(current_account)``
on every page, ``dependencies=[Depends(verify_csrf)]`` on every router holding a
POST/PUT/PATCH/DELETE route, and ``csrf_token(request)`` for the templates' hidden field.

The session cookie ``consentry_session`` is HttpOnly, SameSite=Strict, Path=/, Secure when
``app.state.secure_cookies``. Before login, CSRF is a double submit: a random token in the
short-lived cookie ``consentry_login_csrf`` must equal the form's ``csrf_token``.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from jinja2 import TemplateNotFound

from consentry.services.access import Account
from consentry.services.accounts import SESSION_HOURS, SessionInfo, login, logout, session
from consentry.services.case import CaseHandle, ErrorCode, ServiceError

SESSION_COOKIE = "consentry_session"
LOGIN_CSRF_COOKIE = "consentry_login_csrf"
LOGIN_CSRF_MAX_AGE = 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_REFUSED = "This form has expired or did not come from this app; reload the page and try again."
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_STORE = {"Cache-Control": "no-store"}


class NotLoggedIn(Exception):
    """No live session; ``next`` is where to come back to after logging in."""

    def __init__(self, next_path: str) -> None:
        super().__init__("not logged in")
        self.next = next_path


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


def _handle(request: Request) -> CaseHandle:
    h: CaseHandle = request.app.state.case
    return h


def _secure(request: Request) -> bool:
    return bool(getattr(request.app.state, "secure_cookies", True))


def current_session(request: Request) -> SessionInfo | None:
    """The request's live session (looked up once per request), or None."""
    if "consentry_session_info" not in request.scope:
        token = request.cookies.get(SESSION_COOKIE, "")
        request.scope["consentry_session_info"] = session(_handle(request), token)
    info: SessionInfo | None = request.scope["consentry_session_info"]
    return info


def current_account(request: Request) -> Account:
    """The account logged in; ``NotLoggedIn`` (a 303 to the login page) when none is."""
    info = current_session(request)
    if info is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise NotLoggedIn(path)
    return info.account


def csrf_token(request: Request) -> str:
    """The session's CSRF token for a form's hidden ``csrf_token`` field ("" when none)."""
    info = current_session(request)
    return info.csrf_token if info else ""


async def verify_csrf(request: Request) -> None:
    """Refuse (``CsrfRefused``, 403) a POST/PUT/PATCH/DELETE whose ``csrf_token`` form field or
    ``X-CSRF-Token`` header is not the session's token. POST /login checks its own cookie."""
    if request.method not in UNSAFE_METHODS or request.url.path == "/login":
        return
    info = current_session(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)  # cached: the route reads it again
        sent = value if isinstance(value, str) else None
    if info is None or not sent or not hmac.compare_digest(sent, info.csrf_token):
        raise CsrfRefused()


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this app ("/..." but not "//..."), else "/"."""
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        return "/"
    return value


router = APIRouter()


def _login_page(
    request: Request, token: str, next_path: str, error: str | None, name: str, status: int
) -> Response:
    response = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "title": "Log in",
            "account": None,
            "csrf_token": token,
            "next": next_path,
            "error": error,
            "name": name,
        },
        status_code=status,
        headers=NO_STORE,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


def _login_token(request: Request) -> str:
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return token if 20 <= len(token) <= 100 else secrets.token_urlsafe(32)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the URL's name
    if current_session(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303, headers=NO_STORE)
    return _login_page(request, _login_token(request), safe_next(next), None, "", 200)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()

    def field(key: str) -> str:
        value = form.get(key)
        return value if isinstance(value, str) else ""

    next_path = safe_next(field("next"))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = field(CSRF_FIELD)
    if not cookie or not sent or not hmac.compare_digest(cookie, sent):
        raise CsrfRefused()
    name = field("name")
    remote = request.client.host if request.client else "unknown"
    try:
        result = login(_handle(request), name, field("password"), remote)
    except ServiceError as exc:
        status = {ErrorCode.UNAUTHENTICATED: 401, ErrorCode.RATE_LIMITED: 429}.get(exc.code, 503)
        return _login_page(request, cookie, next_path, exc.message, name, status)
    response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=SESSION_HOURS * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout_submit(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        logout(_handle(request), token)
    response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )
    return response


def _not_logged_in(request: Request, exc: Exception) -> Response:
    target = "/login?next=" + quote(exc.next if isinstance(exc, NotLoggedIn) else "/", safe="/")
    if request.headers.get("HX-Request"):
        # htmx follows a 303 inside its target; tell it to load the login page instead
        return Response(status_code=204, headers={"HX-Redirect": target, **NO_STORE})
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


def _csrf_refused(request: Request, _exc: Exception) -> Response:
    try:
        response: Response = request.app.state.templates.TemplateResponse(
            request,
            "error.html",
            {"title": "Form expired", "message": CSRF_REFUSED, "status": 403},
            status_code=403,
            headers=NO_STORE,
        )
    except TemplateNotFound:
        response = PlainTextResponse(CSRF_REFUSED, status_code=403, headers=NO_STORE)
    return response


def install(app: FastAPI) -> None:
    """The login routes and the handlers for ``NotLoggedIn`` (303 to the login page) and
    ``CsrfRefused`` (403)."""
    app.include_router(router)
    app.add_exception_handler(NotLoggedIn, _not_logged_in)
    app.add_exception_handler(CsrfRefused, _csrf_refused)


__all__ = [
    "CSRF_REFUSED",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "CsrfRefused",
    "NotLoggedIn",
    "csrf_token",
    "current_account",
    "current_session",
    "install",
    "router",
    "safe_next",
    "verify_csrf",
]
