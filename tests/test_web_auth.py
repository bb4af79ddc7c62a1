"""The login pages, the session cookie and CSRF, on a tiny app that installs ``web.auth``
(with a test-only ``base.html``: the real one belongs to the pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.templating import Jinja2Templates
from fastapi.testclient import TestClient
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader

import consentry.web
from consentry.services.access import Account, Role
from consentry.services.accounts import add_user
from consentry.services.audit import audit_events
from consentry.services.case import CaseHandle, CaseRef, opened
from consentry.web import auth

PASSWORD = "correct horse battery"
TEMPLATES = Path(consentry.web.__file__).parent / "templates"
BASE = "<!doctype html><title>{{ title }}</title><main id=main>{% block content %}{% endblock %}"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    ref = CaseRef(tmp_path / "case")
    with opened(ref, create=True):
        pass
    add_user(ref, "alex", Role.EXAMINER, PASSWORD, (), None)
    h = CaseHandle(ref)
    app = FastAPI()
    app.state.case = h
    app.state.secure_cookies = False
    env = Environment(
        loader=ChoiceLoader([DictLoader({"base.html": BASE}), FileSystemLoader(TEMPLATES)]),
        autoescape=True,
    )
    app.state.templates = Jinja2Templates(env=env)
    auth.install(app)
    pages = APIRouter(dependencies=[Depends(auth.verify_csrf)])

    @pages.get("/secret")
    def secret(account: Account = Depends(auth.current_account)) -> PlainTextResponse:  # noqa: B008
        return PlainTextResponse(f"hello {account.name}")

    @pages.post("/change")
    def change(account: Account = Depends(auth.current_account)) -> PlainTextResponse:  # noqa: B008
        return PlainTextResponse("changed")

    app.include_router(pages)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c
    h.close()


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return match.group(1)


def _log_in(
    client: TestClient, password: str = PASSWORD, next_path: str = "/secret"
) -> httpx.Response:
    page = client.get("/login", params={"next": next_path})
    token = _field(page.text, "csrf_token")
    return client.post(
        "/login",
        data={"name": "alex", "password": password, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )


def test_login_page(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'name="name"' in page.text and 'name="password"' in page.text
    assert "Log in</button>" in page.text
    cookie = page.headers["set-cookie"]
    assert auth.LOGIN_CSRF_COOKIE in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert _field(page.text, "csrf_token") in cookie


def test_page_redirects_to_login(client: TestClient) -> None:
    r = client.get("/secret?x=1", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/secret%3Fx%3D1"


def test_login_sets_cookie_and_redirects(client: TestClient) -> None:
    r = _log_in(client)
    assert r.status_code == 303 and r.headers["location"] == "/secret"
    cookie = next(c for c in r.headers.get_list("set-cookie") if auth.SESSION_COOKIE in c)
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    assert "Secure" not in cookie  # secure_cookies is False on plain loopback http
    assert client.get("/secret").text == "hello alex"
    assert "login" in [e.action for e in audit_events(CaseRef(client.app.state.case.path))]  # type: ignore[attr-defined]


def test_secure_cookie_when_asked(client: TestClient) -> None:
    client.app.state.secure_cookies = True  # type: ignore[attr-defined]
    client.base_url = "https://127.0.0.1"  # Secure cookies travel over https only
    r = _log_in(client)
    cookie = next(c for c in r.headers.get_list("set-cookie") if auth.SESSION_COOKIE in c)
    assert "Secure" in cookie


def test_next_must_be_local(client: TestClient) -> None:
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        assert _log_in(client, next_path=bad).headers["location"] == "/"


def test_wrong_password_401_and_rate_limit_429(client: TestClient) -> None:
    for _ in range(5):
        r = _log_in(client, password="wrong password")
        assert r.status_code == 401 and "wrong name or password" in r.text
    r = _log_in(client)
    assert r.status_code == 429 and "too many failed logins: wait" in r.text


def test_login_without_its_csrf_cookie_refused(client: TestClient) -> None:
    r = client.post(
        "/login",
        data={"name": "alex", "password": PASSWORD, "csrf_token": "forged" * 6},
        follow_redirects=False,
    )
    assert r.status_code == 403 and auth.CSRF_REFUSED in r.text


def test_post_needs_csrf_token(client: TestClient) -> None:
    _log_in(client)
    r = client.post("/change", data={"x": "1"})
    assert r.status_code == 403 and auth.CSRF_REFUSED in r.text
    r = client.post("/change", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    page = client.get("/login", follow_redirects=False)  # logged in: sent on
    assert page.status_code == 303
    token = auth_token(client)
    assert client.post("/change", data={"csrf_token": token}).text == "changed"
    assert client.post("/change", headers={"X-CSRF-Token": token}).text == "changed"


def auth_token(client: TestClient) -> str:
    h: CaseHandle = client.app.state.case  # type: ignore[attr-defined]
    from consentry.services.accounts import session

    info = session(h, client.cookies[auth.SESSION_COOKIE])
    assert info is not None
    return info.csrf_token


def test_logout(client: TestClient) -> None:
    _log_in(client)
    token = auth_token(client)
    assert client.post("/logout", follow_redirects=False).status_code == 403
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/secret", follow_redirects=False).status_code == 303


def test_login_page_with_the_apps_base(client: TestClient) -> None:
    app = client.app
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES))  # type: ignore[attr-defined]
    page = client.get("/login")
    assert page.status_code == 200
    assert '<main id="main"' in page.text and page.text.count("<h1>") == 1
    for field in ("name", "password"):
        assert f'<label for="{field}">' in page.text
    assert "Log out" not in page.text  # nobody is logged in yet
    refused = client.post("/change", data={"x": "1"})
    assert refused.status_code == 403 and auth.CSRF_REFUSED in refused.text
