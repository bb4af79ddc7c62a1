"""What every consentry command shares: exit statuses, one-line failures, and how text that
comes from the evidence (file and folder names, messages quoting them, audit details) is
printed: ``shown`` for a Rich console (markup escaped, control characters as ``\\xNN``),
``plain`` for ``click.echo``. A file name is never read as markup and never reaches the
terminal as an escape sequence.

Exit status: 0 the command completed (per-file errors are counted, not fatal); 2 misuse (bad
option, missing source, an output path inside a source or onto an existing file without
``--force``); 3 the case folder is unusable; 4 ``audit verify`` found tampering;
5 a scan stopped on an error that is not about one file (disk full, database lost). A service's
``ServiceError`` becomes its exit status through ``EXIT_STATUS`` (``failed``).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from rich.markup import escape

from consentry.records.text_safety import control_escaped
from consentry.services.case import ErrorCode, ServiceError

EXIT_MISUSE = 2
EXIT_CASE = 3
EXIT_TAMPERED = 4
EXIT_SCAN_FAILED = 5  # a scan stopped on an error no file should cause; re-run to resume
EXIT_STATUS = {
    ErrorCode.MISUSE: EXIT_MISUSE,
    ErrorCode.CASE: EXIT_CASE,
    ErrorCode.TAMPERED: EXIT_TAMPERED,
    ErrorCode.SCAN_FAILED: EXIT_SCAN_FAILED,
}


def plain(value: object) -> str:
    """Text for ``click.echo``: control and direction characters shown as ``\\xNN``."""
    return control_escaped(str(value))


def shown(value: object, lines: bool = False) -> str:
    """Text for a Rich console or table cell: ``plain``, with Rich markup escaped, so a name
    holding ``[/]``, ``[link=...]`` or ``[red]`` is printed as those characters. ``lines``:
    keep the text's line breaks (text this program laid out, e.g. indented JSON)."""
    if lines:
        return "\n".join(escape(plain(line)) for line in str(value).split("\n"))
    return escape(plain(value))


def fail(code: int, message: str) -> NoReturn:
    # one line, never wrapped: scripts parse it (a file name's newline is shown as \x0a)
    click.echo(f"error: {plain(message)}", err=True)
    sys.exit(code)


def failed(exc: ServiceError) -> NoReturn:
    """``fail`` for what a service refused: its message, the exit status of its code."""
    fail(EXIT_STATUS[exc.code], exc.message)
