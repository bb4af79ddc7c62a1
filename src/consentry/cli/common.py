"""What every consentry command shares: exit statuses, one-line failures, and how text that
comes from the evidence (file and folder names, messages quoting them, audit details) is
printed: ``shown`` for a Rich console (markup escaped, control characters as ``\\xNN``),
``plain`` for ``click.echo``. A file name is never read as markup and never reaches the
terminal as an escape sequence.

How it is laid out: ``OutputConsole`` folds lines to the terminal's width on a terminal and
never folds them in a pipe or a file (a table written to ``| tee log`` keeps whole lines, no
path is broken inside); ``print_json`` writes JSON whose strings hold no raw control or
direction character; ``SourcePaths`` shows evidence paths relative to the case's sources,
naming each source once.

Exit status: 0 the command completed (per-file errors are counted, not fatal); 2 misuse (bad
option, missing source, an output path inside a source or onto an existing file without
``--force``); 3 the case folder is unusable; 4 ``audit verify`` found tampering;
5 a scan stopped on an error that is not about one file (disk full, database lost). A service's
``ServiceError`` becomes its exit status through ``EXIT_STATUS`` (``failed``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console, ConsoleDimensions, RenderableType
from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from consentry.records.text_safety import control_escaped
from consentry.services.case import ErrorCode, ServiceError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from consentry.services.summary import CaseSource

EXIT_MISUSE = 2
EXIT_CASE = 3
EXIT_TAMPERED = 4
EXIT_SCAN_FAILED = 5  # a scan stopped on an error no file should cause; re-run to resume
EXIT_STATUS = {
    ErrorCode.MISUSE: EXIT_MISUSE,
    ErrorCode.CASE: EXIT_CASE,
    ErrorCode.TAMPERED: EXIT_TAMPERED,
    ErrorCode.SCAN_FAILED: EXIT_SCAN_FAILED,
    ErrorCode.NOT_FOUND: EXIT_MISUSE,
    ErrorCode.FORBIDDEN: EXIT_MISUSE,
    ErrorCode.UNAUTHENTICATED: EXIT_MISUSE,
    ErrorCode.RATE_LIMITED: EXIT_MISUSE,
}


# the options every case command shares
CASE_OPTION = click.option(
    "--case", "case_dir", required=True, type=click.Path(path_type=Path), help="Case folder."
)
DB_OPTION = click.option("--db", "db_url", default=None, help="Store URL if not SQLite.")
EXAMINER_OPTION = click.option(
    "--examiner", default=None, help="Who does this (recorded in the audit log)."
)


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


# the width of a pipe or a file: wide enough that no line of a table or a message is folded
UNFOLDED_WIDTH = 100_000


class OutputConsole(Console):
    """A Rich console that folds to the terminal's width only on a terminal. Written to a
    pipe or a file it is ``UNFOLDED_WIDTH`` wide, whatever ``COLUMNS`` says: tables keep their
    natural width and a line is never broken inside a path (Rich's default there is 80)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(UNFOLDED_WIDTH, size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def fits(console: Console, renderable: RenderableType) -> bool:
    """Whether ``renderable`` (a table) fits ``console``'s width at its natural width."""
    natural = console.measure(renderable, options=console.options.update_width(UNFOLDED_WIDTH))
    return natural.maximum <= console.width


def indented(markup: str, indent: int) -> Padding:
    """A line of Rich markup indented by ``indent``; on a terminal its folded lines keep the
    indent (evidence-derived parts must already be ``shown``)."""
    return Padding(Text.from_markup(markup), (0, 0, 0, indent), expand=False)


# json.dumps escapes C0 inside strings itself (a newline outside one is the layout's): DEL and
# every non-ASCII character is a candidate, control_escaped decides which to escape
_NOT_ASCII = re.compile(r"[^\x00-\x7e]")


def _json_escape(match: re.Match[str]) -> str:
    char = match.group(0)
    return char if control_escaped(char) == char else f"\\u{ord(char):04x}"


def _fields(value: object) -> object:
    """``json.dumps``'s fallback: a typed record (a dataclass) is written as its fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON data")


def json_text(data: object, indent: int | None = 2) -> str:
    """``data`` as indented JSON in which no string holds a raw control or direction character
    (DEL, C1, U+202E and the other characters ``control_escaped`` names are written ``\\uNNNN``,
    which JSON reads back as the same character); other characters stay as they are. A
    dataclass inside ``data`` is written as its fields."""
    text = json.dumps(data, indent=indent, ensure_ascii=False, default=_fields)
    return _NOT_ASCII.sub(_json_escape, text)


def print_json(console: Console, data: object) -> None:
    """JSON on ``console``'s stream: highlighted on a terminal, plain in a pipe; never read as
    markup, never folded (Rich's own ``print_json`` writes U+202E raw)."""
    text = json_text(data)
    if console.is_terminal:
        console.print(JSONHighlighter()(Text(text)), soft_wrap=True)
    else:
        click.echo(text, err=console.stderr)


class SourcePaths:
    """Evidence paths shown relative to the case's sources, each source named once (in
    ``header``): below the folder holding the source, so every path starts with its source's
    name (``evidence/Avery_Lane``, ``phone.zip!/Camera``; the source folder itself is
    ``evidence``) and paths of different sources never look alike. A path outside every source,
    or in one of two sources of the same name, is shown whole."""

    def __init__(self, sources: Sequence[CaseSource]) -> None:
        roots = {s.path.rstrip("/") for s in sources} - {""}
        names = [r.rpartition("/")[2] for r in roots]
        # (root, its name), longest first so a source inside another one is matched first
        self._bases = sorted(
            ((r, r.rpartition("/")[2]) for r in roots if names.count(r.rpartition("/")[2]) == 1),
            key=lambda base: len(base[0]),
            reverse=True,
        )

    @property
    def header(self) -> str:
        """Where the paths below are, or "" when they are shown whole."""
        if not self._bases:
            return ""
        folders = sorted({root.rpartition("/")[0] or "/" for root, _ in self._bases})
        sources = sorted(name for _, name in self._bases)
        return (
            f"paths below {', '.join(folders)} "
            f"(source{'s' if len(sources) > 1 else ''}: {', '.join(sources)})"
        )

    def below(self, path: str) -> str:
        """``path`` relative to the folder holding its source (whole when it is in none)."""
        for root, name in self._bases:
            if path == root or (path.startswith(root) and path[len(root)] in "/!"):
                return name + path[len(root) :]
        return path

    def in_text(self, text: str) -> str:
        """``text`` (a message quoting evidence paths) with each path below a source shortened
        as ``below`` does; the rest of the text unchanged."""
        for root, name in self._bases:
            # a path starts a message or follows a space, a bracket, a quote or a separator
            pattern = r"(?<![^\s(\[,:;'\"])" + re.escape(root) + r"(?=[/!]|$|[\s()\[\],:;'\"])"
            text = re.sub(pattern, name.replace("\\", "\\\\"), text)
        return text


def fail(code: int, message: str) -> NoReturn:
    # one line, never wrapped: scripts parse it (a file name's newline is shown as \x0a)
    click.echo(f"error: {plain(message)}", err=True)
    sys.exit(code)


def failed(exc: ServiceError) -> NoReturn:
    """``fail`` for what a service refused: its message, the exit status of its code."""
    fail(EXIT_STATUS[exc.code], exc.message)


F = TypeVar("F", bound=Callable[..., Any])

EXECUTOR_HELP = (
    "Where the work runs: 'local' (this machine's cores: worker processes) or 'ray' (a Ray "
    "cluster; pip install 'consentry[ray]'). Ray without --ray-address starts a local Ray "
    "instance with this machine's cores."
)


def executor_options(fn: F) -> F:
    """``--executor local|ray`` and ``--ray-address``, shared by ``scan`` and ``links``."""
    fn = click.option(
        "--ray-address",
        default=None,
        metavar="HOST:PORT",
        help="Join the running Ray cluster at this address (its nodes must have consentry "
        "installed and the evidence and the case folder mounted at the same paths); "
        "'auto' finds one started on this machine by `ray start`.",
    )(fn)
    fn = click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help=EXECUTOR_HELP,
    )(fn)
    return fn
