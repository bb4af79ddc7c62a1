"""Issue 18.8: file names do not control the terminal.

Rich read markup in file names: a path holding ``[/]`` crashed ``case problems``, ``persons``
and ``audit show`` (MarkupError), ``[link=...]`` and colour markup hid the real path, and raw
ESC / OSC sequences reached the terminal. Every command now prints evidence-derived text
through ``cli_common.shown`` / ``plain``: markup shown as its characters, control characters
as ``\\xNN``. Tested through the CLI on a case whose files are named that way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.common import plain, shown
from consentry.cli.main import main
from consentry.records.text_safety import control_escaped

from .security_case import build_case

OSC_LINK = "\x1b]8;;https:evil.example\x1b\\click\x1b]8;;\x1b\\"
HOSTILE = [
    "Avery_Lane/[/]selfie.jpg",
    "Avery_Lane/[link=https:x]innocent[/link].jpg",  # a '/' makes a folder: fine
    f"Avery_Lane/{OSC_LINK}.jpg",
    "[/]dir/[red]red[/red] \x1b[2J\u202egpj.jpg",
]
BROKEN = ["Avery_Lane/bad[/]\x1b[31m\x07.jpg"]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("term")
    case_dir, _evidence, _codes = build_case(root, {0: HOSTILE}, BROKEN, source_name="ev[/]x")
    yield case_dir


def run(*args: str | Path) -> str:
    """The command as an examiner runs it, on a wide terminal (no line folding)."""
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": "2000"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert "\x1b" not in result.output and "\x07" not in result.output, result.output
    assert "\u202e" not in result.output
    return result.output


def test_case_problems_prints_markup_and_escapes_as_text(case: Path) -> None:
    output = run("case", "problems", "--case", case)
    assert "bad[/]\\x1b[31m\\x07.jpg" in output, output
    # the source (folder "]x" in folder "ev[") is named once, paths start with its name
    assert "/ev[ (source: ]x)" in output and "\n]x/" not in output, output
    assert "│ ]x/Avery_Lane/bad[/]" in output, output


def test_persons_and_person_show_print_folder_and_file_names_literally(case: Path) -> None:
    output = run("persons", "--case", case)
    assert "[/]dir" in output, output
    listing = CliRunner().invoke(main, ["persons", "--case", str(case), "--json"]).output
    assert "\x1b" not in listing  # JSON escapes control characters itself (\u001b)
    assert "\u202e" not in listing  # and the CLI the direction override (Rich wrote it raw)
    codes = [p["id"] for p in json.loads(listing)["persons"]]
    shown_all = "".join(run("person", "show", code, "--case", case) for code in codes)
    assert "[link=https:x]innocent[/link].jpg" in shown_all
    assert "/[/]selfie.jpg" in shown_all
    # person show lays lists out as JSON: ESC appears as JSON's \u001b, U+202E as \u202e
    assert "\\u001b]8;;https:evil.example\\u001b" in shown_all  # the OSC link, as text
    assert "[red]red[/red] \\u001b[2J\\u202egpj.jpg" in shown_all


def test_audit_show_and_links_do_not_crash_on_markup(case: Path) -> None:
    assert "ev[/]x" in run("audit", "show", "--case", case)
    run("links", "--case", case)
    run("audit", "verify", "--case", case)


def test_hash_names_unreadable_files_literally(tmp_path: Path) -> None:
    bad = tmp_path / "x[" / "]\x1b]0;title\x07.jpg"
    bad.parent.mkdir()
    bad.write_bytes(b"not an image")
    result = CliRunner().invoke(main, ["hash", str(bad)], env={"COLUMNS": "2000"})
    assert result.exit_code == 1
    assert "x[/]\\x1b]0;title\\x07.jpg" in result.output and "\x1b" not in result.output


def test_helpers() -> None:
    assert control_escaped("a\nb\x1b\x9b\u2028") == "a\\x0ab\\x1b\\x9b\\u2028"
    assert plain("[/]") == "[/]"
    assert shown("[/]x[link=http://x]y") == "\\[/]x\\[link=http://x]y"
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    console.print(shown("[bold]a[/] [link=http://x]b[/link] \x1b[31m"))
    assert console.export_text().strip() == "[bold]a[/] [link=http://x]b[/link] \\x1b[31m"
