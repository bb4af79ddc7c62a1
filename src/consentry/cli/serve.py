"""`consentry serve`: the web app on one case, one process (uvicorn).

FastAPI, uvicorn and the templates are imported inside the command, so ``consentry --help``
loads none of them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from consentry.cli.common import EXIT_MISUSE, fail, failed
from consentry.services.case import CaseRef, ServiceError


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("serve", short_help="Review the case in a browser (the web app).")
@click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
@click.option("--db", "db_url", default=None, help="Store URL if not SQLite.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on an address other than loopback (put HTTPS in front: cookies are Secure).",
)
def serve_cmd(case_dir: Path, db_url: str | None, host: str, port: int, allow_remote: bool) -> None:
    """Review the case in a browser: dashboard, gallery, persons, requests, audit log.

    \b
    Examples:
      consentry user add --case cases/2026-017 --role examiner "J. Doe"
      consentry user add --case cases/2026-017 --role advocate --person E1 "A. Advocate"
      consentry serve --case cases/2026-017
      consentry serve --case cases/2026-017 --port 8080

    Listens on 127.0.0.1:8000 by default; log in with an account made by `consentry user add`.
    Images are blurred unless an examiner reveals one with a reason (logged, 5 minutes).
    """
    loopback = is_loopback(host)
    if not loopback and not allow_remote:
        fail(
            EXIT_MISUSE,
            f"{host} is not a loopback address: add --allow-remote to listen there, behind HTTPS",
        )
    if not case_dir.is_dir():
        fail(EXIT_MISUSE, f"no case folder at {case_dir}")

    import uvicorn

    from consentry.services.case import CaseHandle

    # the one place the CLI shell starts the web shell (sibling layers; allowed by name in the
    # layers contract's ignore_imports, pyproject.toml)
    from consentry.web.app import create_app

    try:
        h = CaseHandle(CaseRef(case_dir, db_url))
    except ServiceError as exc:
        failed(exc)
    try:
        app = create_app(h, secure_cookies=not loopback)
        shown_host = f"[{host}]" if ":" in host else host
        click.echo(
            f"consentry web app for case {case_dir}: http://{shown_host}:{port}/ (Ctrl+C to stop)"
        )
        if not loopback:
            click.echo(
                "Listening beyond loopback: session cookies are Secure, so serve it through "
                "HTTPS (a reverse proxy) or logins will not stick.",
                err=True,
            )
        uvicorn.run(app, host=host, port=port, workers=1, log_level="warning", access_log=False)
    finally:
        h.close()
