"""Browser tests: a real `consentry serve` on loopback, driven by Debian's Chromium.

Playwright's sync API (its own event loop; nothing here uses anyio) launches the system
Chromium at ``/usr/bin/chromium`` (``CONSENTRY_CHROMIUM`` overrides it); no browser is ever
downloaded. ``axe_check`` runs axe-core (bundled in axe-playwright-python) on a page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..web_case import PASSWORD, WebCase, build_web_case

CHROMIUM = os.environ.get("CONSENTRY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CONSENTRY_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the `playwright` Python package (dev extra) is not installed"
    return None


@dataclass(frozen=True)
class Server:
    base_url: str
    case: WebCase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_app_missing() -> str | None:
    """Why the web app cannot be served yet (its CLI commands are placeholders), or None."""
    from consentry.cli.main import main

    for group, sub in (("user", "add"), ("requests", "add")):
        cmd = getattr(main, "commands", {}).get(group)
        if cmd is None or sub not in getattr(cmd, "commands", {}):
            return f"`consentry {group} {sub}` is not built yet"
    serve = getattr(main, "commands", {}).get("serve")
    if serve is None or not any("--case" in getattr(p, "opts", ()) for p in serve.params):
        return "`consentry serve --case` is not built yet"
    return None


@pytest.fixture(scope="session")
def web_case(tmp_path_factory: pytest.TempPathFactory) -> WebCase:
    why = web_app_missing()
    if why:
        pytest.skip(why)
    return build_web_case(tmp_path_factory.mktemp("webcase"))


@pytest.fixture(scope="session")
def server(web_case: WebCase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    exe = Path(sys.executable).with_name("consentry")
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--case", str(web_case.case_dir), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"consentry serve exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"consentry serve did not answer /login in 30 s: {log.read_text()}")
            time.sleep(0.2)
        yield Server(base, web_case)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    try:
        yield pg
    finally:
        context.close()


def login(page: Any, name: str, password: str = PASSWORD) -> None:
    """Log in through the form and land on a page that is not /login."""
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"login as {name} failed: {page.inner_text('body')[:300]}"


def axe_check(page: Any) -> None:
    """Fail on any axe-core violation of impact serious or critical, naming rule and targets."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    lines = [
        f"{v['id']} ({v['impact']}): " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in bad
    ]
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(lines)
