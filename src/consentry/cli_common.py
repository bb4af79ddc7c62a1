"""What every consentry command shares: exit statuses and one-line failures.

Exit status: 0 the command completed (per-file errors are counted, not fatal); 2 misuse (bad
option, missing source); 3 the case folder is unusable; 4 ``audit verify`` found tampering;
5 a scan stopped on an error that is not about one file (disk full, database lost).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from .case import Case, CaseError, open_case_readonly

EXIT_MISUSE = 2
EXIT_CASE = 3
EXIT_TAMPERED = 4
EXIT_SCAN_FAILED = 5  # a scan stopped on an error no file should cause; re-run to resume


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)  # one line, never wrapped: scripts parse it
    sys.exit(code)


def read_case(case_dir: Path, db_url: str | None) -> Case:
    """Open an existing case for reading, or exit with EXIT_CASE and a one-line reason."""
    try:
        return open_case_readonly(case_dir, db_url)
    except CaseError as exc:
        fail(EXIT_CASE, str(exc))
