"""Screenshots of the web app (issue 14) for the docs: dashboard, gallery, image detail, requests.

Serves a case with ``consentry serve`` on loopback, logs in as an examiner in Debian's Chromium
(Playwright; no browser download) and writes 1280x800 PNGs into ``docs/screenshots/``. Without
``--case`` it builds its own harmless case (``tests/web_case.py``: fictional synthetic people,
the stand-in "explicit" copies blurred) under /tmp; it never runs ``make demo``.

    .venv/bin/python scripts/screenshots.py [--case DIR --user NAME --password-stdin]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = os.environ.get("CONSENTRY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"consentry serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/login", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise SystemExit("consentry serve did not answer /login within 30 s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", type=Path, help="a case folder (default: build a harmless one)")
    ap.add_argument("--user", default="examiner1")
    ap.add_argument("--password-stdin", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args()
    if not Path(CHROMIUM).is_file():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    if args.case is None:
        from tests.web_case import PASSWORD, build_web_case

        built = build_web_case(Path(tempfile.mkdtemp(prefix="consentry-shots-")))
        case_dir, user, password = built.case_dir, built.users["examiner"], PASSWORD
    else:
        if not args.password_stdin:
            raise SystemExit("--case needs --password-stdin (the examiner's password on stdin)")
        case_dir, user, password = args.case, args.user, sys.stdin.readline().rstrip("\n")

    from playwright.sync_api import sync_playwright

    port = free_port()
    exe = Path(sys.executable).with_name("consentry")
    cmd = [str(exe), "serve", "--case", str(case_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        wait_up(base, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_context(
                base_url=base, viewport={"width": 1280, "height": 800}
            ).new_page()
            page.goto("/login")
            page.fill("input[name=name]", user)
            page.fill("input[name=password]", password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
            if "/login" in page.url:
                raise SystemExit(f"could not log in as {user}")
            page.goto("/")
            page.screenshot(path=args.out / "dashboard.png")
            page.goto("/gallery")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=args.out / "gallery.png")
            sha = page.locator("a.tile[data-sha]").first.get_attribute("data-sha")
            page.goto(f"/images/{sha}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=args.out / "image-detail.png")
            page.goto("/requests")
            page.screenshot(path=args.out / "requests.png")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    for name in ("dashboard", "gallery", "image-detail", "requests"):
        print(args.out / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
