"""Issue 14 part D: the web app's pages render for each role (TestClient, no browser), unknown
ids are 404, a reviewer may not tag, every response carries the security headers, image bytes
are ``private, no-store``, no page links outside the app, and a malformed date is a 400.

The case is ``web_case.build_scanned_case`` (harmless synthetic people; a stand-in explicit
scorer) with one user per role added through ``services.accounts``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from consentry.services import requests as rq
from consentry.services.access import Account, Role
from consentry.services.case import CaseHandle, CaseRef

from .web_case import NAMES, PASSWORD, build_scanned_case

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from consentry.web.app import create_app  # noqa: E402

USERS = {
    Role.EXAMINER: "examiner1",
    Role.CASE_MANAGER: "manager1",
    Role.ADVOCATE: "advocate1",
    Role.REVIEWER: "reviewer1",
}
PAGES = ["/", "/gallery", "/gallery?grey=1&label=none", "/persons", "/problems", "/requests"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
TILE = re.compile(r'<a class="tile" href="/images/[0-9a-f]{64}" data-sha="([0-9a-f]{64})"')


@dataclass(frozen=True)
class Built:
    case_dir: Path
    codes: dict[str, str]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from consentry.services.accounts import add_user

    case_dir, codes, _marked = build_scanned_case(tmp_path_factory.mktemp("webpages"))
    ref = CaseRef(case_dir)
    for role, name in USERS.items():
        scope = [codes[NAMES[0]]] if role is Role.ADVOCATE else []
        add_user(ref, name, role, PASSWORD, scope, None)
    h = CaseHandle(ref)
    examiner = Account.local("test")
    rq.create_request(h, examiner, codes[NAMES[0]], "takedown", "Avery Lane",
                      asked_at="2026-01-05T09:00:00Z")  # fmt: skip
    rq.create_request(h, examiner, codes[NAMES[1]], "interim_measure", "Blake Moreno")
    return Built(case_dir, codes)


@pytest.fixture(scope="module")
def app(built: Built) -> object:
    return create_app(CaseHandle(CaseRef(built.case_dir)), secure_cookies=False)


def logged_in(app: object, role: Role) -> TestClient:
    c = TestClient(app)  # type: ignore[arg-type]
    page = c.get("/login")
    token = CSRF.search(page.text)
    assert token, page.text[:300]
    r = c.post(
        "/login",
        data={"name": USERS[role], "password": PASSWORD, "csrf_token": token[1], "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    return c


@pytest.fixture
def clients(app: object) -> Iterator[dict[Role, TestClient]]:
    yield {role: logged_in(app, role) for role in USERS}


def shas(c: TestClient, url: str = "/gallery") -> list[str]:
    return TILE.findall(c.get(url).text)


def token(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "no csrf-token meta tag"
    return m[1]


def check_page(html: str) -> None:
    assert '<html lang="en">' in html
    assert html.count("<h1") == 1
    assert '<main id="main"' in html and 'href="#main"' in html
    assert "<title>" in html
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for form in re.findall(r'<form method="post".*?</form>', html, re.S):
        assert 'name="csrf_token"' in form, form[:200]


@pytest.mark.parametrize("role", list(USERS))
def test_every_page_renders_for_the_role(clients: dict[Role, TestClient], role: Role) -> None:
    c = clients[role]
    for url in PAGES:
        r = c.get(url)
        assert r.status_code == 200, (url, r.text[-400:])
        check_page(r.text)
        assert 'aria-current="page"' in r.text, url
        assert USERS[role] in r.text
    found = shas(c)
    assert found
    detail = c.get(f"/images/{found[0]}")
    assert detail.status_code == 200
    check_page(detail.text)
    assert ("/reveal" in detail.text) == (role is Role.EXAMINER)
    codes = re.findall(r'<tr[^>]*data-code="([^"]+)"', c.get("/requests").text)
    assert codes
    one = c.get(f"/requests/{codes[0]}")
    assert one.status_code == 200
    check_page(one.text)
    new = c.get("/requests/new")
    assert new.status_code == (403 if role is Role.REVIEWER else 200)
    assert ('href="/requests/new"' in c.get("/requests").text) == (role is not Role.REVIEWER)
    audit = c.get("/audit")
    if role is Role.ADVOCATE:
        assert audit.status_code == 403
        assert len(found) < len(shas(clients[Role.EXAMINER]))
    else:
        assert audit.status_code == 200 and "Audit log verified" in audit.text
        check_page(audit.text)


def test_unknown_ids_are_404(clients: dict[Role, TestClient]) -> None:
    c = clients[Role.EXAMINER]
    for url in (f"/images/{'0' * 64}", f"/images/{'0' * 64}/thumb", "/requests/R9999",
                "/no/such/page"):  # fmt: skip
        r = c.get(url)
        assert r.status_code == 404, url
        assert "<h1>" in r.text


def test_not_logged_in_goes_to_login(app: object) -> None:
    r = TestClient(app).get("/gallery?label=none", follow_redirects=False)  # type: ignore[arg-type]
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=/gallery")


def test_reviewer_may_not_tag_and_examiner_may(clients: dict[Role, TestClient]) -> None:
    reviewer, examiner = clients[Role.REVIEWER], clients[Role.EXAMINER]
    sha = shas(examiner)[0]
    page = reviewer.get("/gallery")
    r = reviewer.post(f"/images/{sha}/tags", data={"tag": "reviewed", "on": "1",
                      "csrf_token": token(page.text)})  # fmt: skip
    assert r.status_code == 403
    assert "Add tag" not in reviewer.get(f"/images/{sha}").text
    no_token = examiner.post(f"/images/{sha}/tags", data={"tag": "reviewed", "on": "1"})
    assert no_token.status_code == 403
    tok = token(examiner.get("/gallery").text)
    ok = examiner.post(f"/images/{sha}/tags", data={"tag": "second_look", "on": "1"},
                       headers={"X-CSRF-Token": tok})  # fmt: skip
    assert ok.status_code == 200 and "second_look" in ok.text
    assert sha in shas(examiner, "/gallery?tag=second_look")
    back = examiner.post(f"/images/{sha}/tags", data={"tag": "second_look", "on": "0",
                         "csrf_token": tok}, follow_redirects=False)  # fmt: skip
    assert back.status_code == 303
    assert sha not in shas(examiner, "/gallery?tag=second_look")


def test_security_headers_and_private_image_bytes(clients: dict[Role, TestClient]) -> None:
    c = clients[Role.EXAMINER]
    sha = shas(c)[0]
    for url in ("/", "/gallery", "/login", f"/images/{sha}"):
        h = c.get(url).headers
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-frame-options"] == "DENY"
        assert h["cache-control"] == "no-store"
    for url in (f"/images/{sha}/thumb", f"/images/{sha}/faces/0"):
        r = c.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
        assert r.headers["cache-control"] == "private, no-store"


def test_reveal_needs_a_reason_then_shows_the_image(clients: dict[Role, TestClient]) -> None:
    c = clients[Role.EXAMINER]
    sha = shas(c)[0]
    assert c.get(f"/images/{sha}/revealed").status_code == 403
    tok = token(c.get(f"/images/{sha}").text)
    assert (
        c.post(f"/images/{sha}/reveal", data={"reason": "", "csrf_token": tok}).status_code == 400
    )
    r = c.post(f"/images/{sha}/reveal", data={"reason": "compare with consent form 12",
               "csrf_token": tok}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"].startswith(f"/images/{sha}?revealed=")
    page = c.get(r.headers["location"])
    assert 'id="revealed"' in page.text and f"/images/{sha}/revealed" in page.text
    img = c.get(f"/images/{sha}/revealed")
    assert img.status_code == 200 and img.headers["cache-control"] == "private, no-store"
    assert "compare with consent form 12" in c.get("/audit").text
    assert clients[Role.REVIEWER].get(f"/images/{sha}/revealed").status_code == 403


def test_new_request_and_its_status(clients: dict[Role, TestClient], built: Built) -> None:
    c = clients[Role.CASE_MANAGER]
    form = c.get("/requests/new")
    assert form.status_code == 200 and 'type="datetime-local"' in form.text
    check_page(form.text)
    tok = token(form.text)
    person = built.codes[NAMES[0]]
    bad = c.post("/requests", data={"kind": "other", "person": person, "asked_by": "A tutor",
                 "asked_at": "next tuesday", "csrf_token": tok})  # fmt: skip
    assert bad.status_code == 400 and "not a date and time" in bad.text
    fields = {"kind": "other", "person": person, "asked_by": "A tutor"}
    fields |= {"asked_at": "2026-11-30T10:15", "csrf_token": tok}
    r = c.post("/requests", data=fields, follow_redirects=False)
    assert r.status_code == 303
    code = r.headers["location"].rsplit("/", 1)[1]
    assert f'data-code="{code}"' in c.get("/requests").text
    up = c.post(f"/requests/{code}", data={"status": "acknowledged", "note": "seen",
                "csrf_token": tok}, follow_redirects=False)  # fmt: skip
    assert up.status_code == 303
    assert "acknowledged" in c.get(f"/requests/{code}").text
    assert 'class="overdue' in c.get("/").text


def test_advocate_requests_stay_inside_their_scope(
    clients: dict[Role, TestClient], built: Built
) -> None:
    """The advocate (scoped to NAMES[0]) sees and records requests for that person only; the
    other person's request and a request for them answer 404, a status change 403."""
    c = clients[Role.ADVOCATE]
    listing = c.get("/requests").text
    codes = re.findall(r'data-code="(R\d+)"', listing)
    manager = clients[Role.CASE_MANAGER].get("/requests").text
    others = set(re.findall(r'data-code="(R\d+)"', manager)) - set(codes)
    assert codes and others, (codes, others)
    for code in others:
        assert c.get(f"/requests/{code}").status_code == 404
    tok = token(c.get("/requests/new").text)
    fields = {"kind": "other", "asked_by": "Advocate", "csrf_token": tok}
    other = c.post("/requests", data=fields | {"person": built.codes[NAMES[1]]})
    assert other.status_code == 404
    own = c.post(
        "/requests", data=fields | {"person": built.codes[NAMES[0]]}, follow_redirects=False
    )
    assert own.status_code == 303
    change = c.post(f"/requests/{codes[0]}", data={"status": "acknowledged", "csrf_token": tok})
    assert change.status_code == 403


def test_serve_refuses_a_remote_host_without_allow_remote(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from consentry.cli.main import main
    from consentry.cli.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    refused = CliRunner().invoke(main, ["serve", "--case", str(tmp_path), "--host", "0.0.0.0"])
    assert refused.exit_code == 2 and "--allow-remote" in refused.output
    helped = CliRunner().invoke(main, ["serve", "--help"])
    assert helped.exit_code == 0 and "consentry user add" in helped.output
