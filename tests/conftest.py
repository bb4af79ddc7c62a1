"""Fixtures shared by the test modules (keep only generic ones here)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def run_cli() -> RunCli:
    """Run the real ``consentry`` command in a subprocess: ``run_cli("scan", src, ...)``.

    Uses the installed console script when there is one (what an examiner runs), else
    ``python -m consentry.cli.main``. A timeout turns a hang into a test failure.
    """
    script = Path(sys.executable).with_name("consentry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "consentry.cli.main"]

    def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *map(str, args)], capture_output=True, text=True, timeout=timeout
        )

    return run
