"""The real ``consentry service`` for tests: the installed command in a subprocess, uvicorn on a
free loopback port, a temporary service home, SQLite (default) or a PostgreSQL URL.

``running_service(home, ...)`` creates an admin key with ``consentry service key add`` (the
token is read from what the command prints, as an operator would), starts the server, waits
until ``GET /status`` answers, yields a ``ServiceServer`` and stops the server cleanly
(SIGINT, as Ctrl+C; its process group is killed only if it does not stop in time). A server
that exits early or never answers fails the test with the tail of its log.

Nothing here reaches beyond loopback.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TOKEN = re.compile(r"^token: (\S+)$", re.MULTILINE)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def consentry_command() -> list[str]:
    """The installed console script when there is one (what an operator runs), else
    ``python -m consentry.cli.main``."""
    script = Path(sys.executable).with_name("consentry")
    return [str(script)] if script.exists() else [sys.executable, "-m", "consentry.cli.main"]


def clean_env() -> dict[str, str]:
    """This process's environment without the service's own variables (a developer's shell
    must not point a test at their real service)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_SERVICE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_cli(
    home: Path, *args: str | Path, db_url: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``consentry service ARGS --home HOME [--db URL]`` to completion."""
    where = ["--home", str(home), *(["--db", db_url] if db_url else [])]
    return subprocess.run(
        [*consentry_command(), "service", *map(str, args), *where],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )


def add_key(home: Path, role: str, name: str, *, db_url: str | None = None, rate: int = 0) -> str:
    """A new API key's token, read from ``consentry service key add``'s output."""
    done = service_cli(home, "key", "add", "--role", role, "--rate", str(rate), name, db_url=db_url)
    assert done.returncode == 0, done.stderr
    found = TOKEN.search(done.stdout)
    assert found, done.stdout
    return found.group(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ServiceServer:
    base_url: str
    admin_token: str
    home: Path
    db_url: str | None
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client on this server, sending ``token`` (the admin's by default)."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"consentry service exited with {process.returncode} before answering:\n"
                + log.read_text(errors="replace")[-4000:]
            )
        try:
            if httpx.get(f"{url}/status", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(
        f"consentry service did not answer /status in {START_TIMEOUT_S:.0f} s:\n"
        + log.read_text(errors="replace")[-4000:]
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl+C, then (only if it does not stop in time) the process group this fixture made."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@contextmanager
def running_service(
    home: Path,
    *,
    db_url: str | None = None,
    workers: int = 1,
    extra: Sequence[str] = (),
    admin_token: str | None = None,
) -> Iterator[ServiceServer]:
    """``consentry service --home HOME [--db URL] --port FREE --workers N`` until the block
    ends. ``admin_token``: reuse a key made before (a second server on the same database)."""
    token = admin_token or add_key(home, "admin", "test-admin", db_url=db_url)
    port = free_port()
    log = home / f"server-{port}.log"
    command = [
        *consentry_command(), "service", "--home", str(home), "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), *extra,
        *(["--db", db_url] if db_url else []),
    ]  # fmt: skip
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process, log)
        yield ServiceServer(url, token, home, db_url, process, log)
    finally:
        stop(process)


def closing_client(server: ServiceServer, token: str | None = None) -> httpx.Client:
    """A client whose every request asks the server to close the connection after it, so the
    next one is a new connection that any of the server's workers may accept."""
    client = server.client(token)
    client.headers["Connection"] = "close"
    return client


def seconds_until_agreed(
    server: ServiceServer, value: str, want: list[int], *, within: float = 10.0
) -> float:
    """Seconds until 10 PDQ lookups of ``value`` in a row, each on a new connection, answer
    the content ids ``want`` (HMA's ``/m/raw_lookup``); fails after ``within`` + 5 s."""
    start = time.monotonic()
    streak = 0
    with closing_client(server) as client:
        while streak < 10:
            answer = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": value})
            assert answer.status_code == 200, answer.text
            streak = streak + 1 if sorted(answer.json()["matches"]) == sorted(want) else 0
            if time.monotonic() - start > within + 5:
                raise AssertionError(
                    f"{server.base_url}: {value} not {want} after {within + 5:.0f} s"
                )
    return time.monotonic() - start
