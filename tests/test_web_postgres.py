"""The web app on PostgreSQL (issue 14): a case whose store is a PostgreSQL database (``--db``)
serves logins and requests through ``web.app.create_app`` as it does on SQLite.

Needs a server: ``CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://USER@HOST:PORT/DB`` (``.ci/run``
starts one on loopback). Each test gets its own fresh database on that server, dropped after.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main

from .pg import postgres_database
from .synthetic import write_jpeg

URL = os.environ.get("CONSENTRY_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(
    not URL, reason="set CONSENTRY_TEST_POSTGRES_URL=postgresql+psycopg://... to test PostgreSQL"
)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database on the test server, named for this test; dropped afterwards."""
    with postgres_database("consentry_web") as url:
        yield url


def csrf(html: str) -> str:
    found = re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert found, html[:500]
    return found.group(1) or found.group(2)


def test_web_app_logs_in_and_tracks_requests_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    accounts = pytest.importorskip("consentry.services.accounts", reason="part A not built yet")
    web_app = pytest.importorskip("consentry.web.app", reason="part D not built yet")
    from fastapi.testclient import TestClient

    from consentry.services.access import Role
    from consentry.services.case import CaseRef

    write_jpeg(tmp_path / "ev" / "a.jpg", seed=1)
    case = tmp_path / "case"
    scan = ["scan", str(tmp_path / "ev"), "--case", str(case), "--db", pg_url, "-q"]
    result = CliRunner().invoke(main, [*scan, "--workers", "1", "--no-links"])
    assert result.exit_code == 0, result.output
    ref = CaseRef(case, pg_url)
    accounts.add_user(ref, "manager1", Role.CASE_MANAGER, PASSWORD, (), None)

    from consentry.services.case import CaseHandle

    h = CaseHandle(ref)
    app = web_app.create_app(h, secure_cookies=False)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        assert client.get("/", follow_redirects=False).status_code == 303
        page = client.get("/login")
        assert page.status_code == 200
        login = client.post(
            "/login",
            data={"name": "manager1", "password": PASSWORD, "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert login.status_code == 303, login.text
        assert client.get("/").status_code == 200

        form = client.get("/requests/new")
        assert form.status_code == 200
        data = {
            "kind": "takedown",
            "asked_by": "A Student",
            "asked_at": "2026-01-05T09:00:00Z",
            "csrf_token": csrf(form.text),
        }
        refused = client.post(
            "/requests", data={k: v for k, v in data.items() if k != "csrf_token"}
        )
        assert refused.status_code == 403
        made = client.post("/requests", data=data, follow_redirects=True)
        assert made.status_code == 200, made.text
        listing = client.get("/requests")
        rows = re.findall(r'<tr[^>]*data-code="([^"]+)"[^>]*>', listing.text)
        assert len(rows) == 1, listing.text
        assert re.search(r'<tr[^>]*class="[^"]*overdue', listing.text), "not shown overdue"

    requests = pytest.importorskip("consentry.services.requests")
    from consentry.services.access import Account

    try:
        overdue = requests.list_requests(h, Account.local("Test Examiner"), overdue_only=True)
    finally:
        h.close()
    assert [r.code for r in overdue] == rows and overdue[0].overdue
