"""Issue 14, "Tests in a real browser": each role logs in; reveal is reasoned, logged and
no-store; an advocate's guessed URLs are 404; CSRF-less posts are 403; overdue requests show;
keyboard review of 20 images; axe-core on every page; served thumbnail bytes are blurred
whenever the label is not ``none``."""

from __future__ import annotations

from typing import Any

import pytest

from ..web_case import NAMES, looks_blurred
from .conftest import Server, axe_check, chromium_missing, login

_why = chromium_missing()
pytestmark = [pytest.mark.browser, pytest.mark.skipif(_why is not None, reason=_why or "")]


def tile_shas(page: Any, url: str) -> list[str]:
    page.goto(url)
    return [t.get_attribute("data-sha") for t in page.locator("a.tile[data-sha]").all()]


@pytest.mark.parametrize("role", ["examiner", "case_manager", "advocate", "reviewer"])
def test_each_role_logs_in_and_sees_the_dashboard(page: Any, server: Server, role: str) -> None:
    login(page, server.case.users[role])
    page.goto("/")
    assert page.locator("main#main h1").count() == 1
    assert page.locator("nav [aria-current=page]").count() >= 1


def test_wrong_password_stays_on_login(page: Any, server: Server) -> None:
    page.goto("/login")
    page.fill("input[name=name]", server.case.users["examiner"])
    page.fill("input[name=password]", "not the password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login" in page.url
    resp = page.request.get("/", max_redirects=0)
    assert resp.status == 303 and "/login" in resp.headers["location"]


def test_reveal_asks_for_a_reason_is_logged_and_not_cached(page: Any, server: Server) -> None:
    login(page, server.case.users["examiner"])
    shas = tile_shas(page, "/gallery?label=explicit")
    assert shas, "the case has no explicit-labelled (stand-in) image"
    sha = shas[0]
    assert page.request.get(f"/images/{sha}/revealed").status in (403, 404), "revealed unasked"
    page.goto(f"/images/{sha}")
    reason = "checking the face against the consent record 7f3a"
    form = page.locator("form[action$='/reveal']")
    field = form.locator("[name=reason]")
    assert field.get_attribute("required") is not None, "the reveal form does not ask a reason"
    token = form.locator("input[name=csrf_token]").get_attribute("value")
    empty = page.request.post(f"/images/{sha}/reveal", form={"csrf_token": token, "reason": ""})
    assert empty.status == 400, "a reveal without a reason was not refused"
    field.fill(reason)
    form.locator("button, input[type=submit]").first.click()
    page.wait_for_load_state()
    page.locator("img#revealed").wait_for()
    resp = page.request.get(f"/images/{sha}/revealed")
    assert resp.status == 200
    assert "no-store" in resp.headers.get("cache-control", "")
    page.goto("/audit")
    body = page.inner_text("main")
    assert reason in body and "Audit log verified" in body


def test_advocate_gets_404_for_another_persons_images(page: Any, server: Server) -> None:
    login(page, server.case.users["examiner"])
    other = tile_shas(page, f"/gallery?person={server.case.codes[NAMES[1]]}")
    own = tile_shas(page, f"/gallery?person={server.case.codes[NAMES[0]]}")
    assert other and own
    page.context.clear_cookies()
    login(page, server.case.users["advocate"])
    assert page.request.get(f"/images/{own[0]}/thumb").status == 200
    for sha in other[:3]:
        for url in (f"/images/{sha}/thumb", f"/images/{sha}/faces/0", f"/images/{sha}"):
            assert page.request.get(url).status == 404, url
        page.goto(f"/images/{sha}")
        assert NAMES[1] not in page.inner_text("body")
    assert not set(other) & set(tile_shas(page, "/gallery"))


def test_posts_without_the_csrf_token_are_refused(page: Any, server: Server) -> None:
    login(page, server.case.users["examiner"])
    resp = page.request.post(
        "/requests",
        form={"person": server.case.codes[NAMES[0]], "kind": "other", "asked_by": "Someone"},
    )
    assert resp.status == 403
    sha = tile_shas(page, "/gallery")[0]
    status = page.evaluate(
        """sha => fetch('/images/' + sha + '/tags', {method: 'POST',
             body: new URLSearchParams({tag: 'relevant', on: '1'})}).then(r => r.status)""",
        sha,
    )
    assert status == 403
    assert not tile_shas(page, "/gallery?tag=relevant")


def test_overdue_request_shows_on_dashboard_and_requests(page: Any, server: Server) -> None:
    login(page, server.case.users["case_manager"])
    page.goto("/")
    assert page.locator("section#overdue .overdue").count() >= 1
    page.goto("/requests")
    rows = page.locator("#requests tr[data-code]")
    assert rows.count() >= 2
    assert page.locator("#requests tr[data-code].overdue").count() == 1


def test_keyboard_review_of_twenty_images(page: Any, server: Server) -> None:
    login(page, server.case.users["examiner"])
    shas = tile_shas(page, "/gallery")
    assert len(shas) >= 20
    page.locator("a.tile[data-sha]").first.focus()
    for i in range(20):
        current = page.locator("a.tile[aria-current=true]")
        assert current.count() == 1 and current.get_attribute("data-sha") == shas[i], i
        focused = page.evaluate("() => document.activeElement.getAttribute('data-sha')")
        assert focused == shas[i], (i, focused)
        with page.expect_response(lambda r: r.url.endswith("/tags")) as tagged:
            page.keyboard.press("t")
        assert tagged.value.status == 200
        if i < 19:
            page.keyboard.press("j")
    page.reload()
    assert set(tile_shas(page, "/gallery?tag=reviewed")) == set(shas[:20])


PAGES = ["/", "/gallery", "/persons", "/problems", "/audit", "/requests", "/requests/new"]


def test_axe_on_every_page(page: Any, server: Server) -> None:
    page.goto("/login")
    axe_check(page)
    login(page, server.case.users["examiner"])
    for url in PAGES:
        page.goto(url)
        axe_check(page)
    sha = tile_shas(page, "/gallery")[0]
    page.goto(f"/images/{sha}")
    axe_check(page)
    page.goto("/requests")
    code = page.locator("#requests tr[data-code]").first.get_attribute("data-code")
    page.goto(f"/requests/{code}")
    axe_check(page)


def test_served_thumbnails_are_blurred_unless_labelled_none(page: Any, server: Server) -> None:
    login(page, server.case.users["examiner"])
    page.goto("/gallery")
    labels = [
        v
        for v in page.locator("select[name=label] option").evaluate_all(
            "os => os.map(o => o.value)"
        )
        if v
    ]
    assert "none" in labels and len(labels) > 1, labels
    checked = {"blurred": 0, "sharp": 0}
    for label in labels:
        for sha in tile_shas(page, f"/gallery?label={label}"):
            resp = page.request.get(f"/images/{sha}/thumb")
            assert resp.status == 200
            assert "no-store" in resp.headers.get("cache-control", "")
            blurred = looks_blurred(resp.body())
            assert blurred == (label != "none"), (label, sha)
            checked["blurred" if blurred else "sharp"] += 1
    assert checked["blurred"] >= len(server.case.marked) and checked["sharp"] >= 1, checked
