"""Issue 13: the terminal tells the truth and stays readable.

- Written to a pipe or a file (``make demo | tee log``), a table keeps whole lines: Rich used
  to fold the persons table at 80 columns (``COLUMNS`` or its default), breaking evidence paths
  character by character. On a terminal too narrow for a table, the rows become blocks.
- Evidence paths are shown below the folder holding their source, the source named once.
- A re-run with nothing to do says so, never "rate: 0.0 files/s"; each progress phase counts
  in its own unit (the derivation pass: images, then pairs of images, not "339/339 files").
- A link whose direction is unknown reads "copies of each other, direction unknown", never
  "made from"; its confidence is labelled a direction confidence, and never shown bare where
  the source is one of several pictures.
- JSON output holds no raw direction override (U+202E).

No explicit imagery: synthetic people (``openpeople``) and generated pictures; the
explicit-content analyzer is a stand-in (``tests/security_case.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from consentry.cli import links as links_cli
from consentry.cli.common import SourcePaths, json_text
from consentry.cli.main import _BarProgress, _CountColumn, _RateColumn, main
from consentry.services.links import LinkView, OtherSource
from consentry.services.summary import CaseSource

from .security_case import build_case
from .synthetic import write_jpeg

# folder and file names longer than a terminal's 80 columns once the source is named
DEEP = "Phone backup 2026-11-30 (restored from the cloud)/DCIM/Camera Roll/2026 November"
LONG_FILES = {
    0: [f"Avery_Lane/{DEEP}/IMG_20261130_104512_edited_for_posting.jpg"],
    1: [f"Blake_Moreno/{DEEP}/IMG_20261130_104777_edited_for_posting.jpg"],
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("out")
    case_dir, evidence, _codes = build_case(root, LONG_FILES, source_name="evidence")
    yield case_dir, evidence


def invoke(*args: str | Path, **env: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_persons_written_to_a_pipe_keep_whole_lines_and_paths_below_the_source(
    case: tuple[Path, Path],
) -> None:
    case_dir, evidence = case
    # COLUMNS=80 is what Rich assumed for a pipe: the old table folded every long path
    text = invoke("persons", "--case", case_dir, COLUMNS="80")
    report = json.loads(invoke("persons", "--case", case_dir, "--json"))
    folders = {f["folder"] for p in report["persons"] for f in p["folders"]}
    assert any(len(f) > 80 for f in folders)  # the test means something
    for folder in folders:
        below = "evidence" + folder[len(str(evidence)) :]
        assert below in text, (below, text)  # whole, on one line
    assert f"paths below {evidence.parent} (source: evidence)" in text
    assert str(evidence) + "/" not in text  # the source is named once, in the header
    longest = max(len(line) for line in text.splitlines())
    assert longest > 80, "a table wider than 80 columns is expected here"
    # the folder-reconciliation lines quote folders below the source too, whole
    several = [line for line in text.splitlines() if "person_in_several_folders" in line]
    assert several and all(str(evidence) not in line for line in several)
    assert any(f"evidence/Avery_Lane/{DEEP}" in line for line in several), several
    # the count with its bounds, each widening of a bound on its own line
    c = report["count"]
    assert f"persons depicted: {c['estimate']} (at least {c['lower_bound']}, at most " in text
    for w in c["widened"]:
        assert "    " + w["text"].replace(str(evidence), "evidence") in text, (w, text)
    if c["lower_bound"] == c["upper_bound"]:
        assert "nothing in the count is uncertain" in text


def test_persons_on_a_narrow_terminal_become_blocks_within_its_width(
    case: tuple[Path, Path],
) -> None:
    case_dir, _evidence = case
    text = ANSI.sub("", invoke("persons", "--case", case_dir, TTY_COMPATIBLE="1", COLUMNS="70"))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 70, text
    assert "┏" not in text and "folders: evidence/Avery_Lane" in text, text


def test_a_rescan_with_nothing_to_do_says_so(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    for n in range(3):
        write_jpeg(evidence / f"photo_{n}.jpg", seed=n)
    scan = ("scan", evidence, "--case", tmp_path / "case", "--workers", "1", "-q")
    first = invoke(*scan, "--skip", "faces,explicit", "--no-links")
    assert "analysed now: 3 file(s)" in first and "files/s over the whole scan" in first, first
    again = invoke(*scan, "--skip", "faces,explicit", "--no-links")
    assert "nothing new to analyse" in again, again
    assert "files/s" not in again and "rate:" not in again, again  # "0.0 files/s" was here


def bar_after(calls: list[tuple[str, object]]) -> _BarProgress:
    bar = _BarProgress(quiet=True)  # the bar keeps its tasks; nothing is drawn
    bar.started()
    for name, arg in calls:
        getattr(bar, name)(*(() if arg is None else (arg,)))
    return bar


def tasks_of(bar: _BarProgress) -> list[tuple[str, float | None, float, str]]:
    assert bar.bar is not None
    return [(t.description, t.total, t.completed, t.fields["unit"]) for t in bar.bar.tasks]


def test_progress_counts_files_then_images_then_pairs() -> None:
    # the calls of a first scan of the demo: 46 files, 52 with archive members, 42 images
    # whose features the derivation pass computes, then 339 pairs it verifies (one total)
    bar = bar_after(
        [("phase", "inventory"), ("inventory", 46), ("phase", "analysis"),
         ("analysis_total", 50), ("analysed", 30), ("analysis_total", 52), ("analysed", 22),
         ("phase", "derivation"), ("analysis_total", 42), ("analysed", 32), ("analysed", 10),
         ("analysis_total", 42 + 339), ("analysed", 256), ("analysed", 83)]
    )  # fmt: skip
    assert tasks_of(bar) == [
        ("inventory", 46, 46, "files"),
        ("analysis", 52, 52, "files"),
        ("link: images", 42, 42, "images"),
        ("link: pairs", 339, 339, "pairs"),
    ]
    assert bar.done == {"inventory": 46, "analysis": 52, "derivation": 42, "pairs": 339}
    assert bar.bar is not None
    pairs = bar.bar.tasks[-1]
    assert str(_CountColumn().render(pairs)) == "339/339 pairs"
    rate = str(_RateColumn().render(pairs))
    assert rate == "" or rate.endswith(" pairs/s"), rate
    bar.stop()


def test_progress_of_a_rerun_says_nothing_to_do() -> None:
    bar = bar_after(
        [("phase", "inventory"), ("inventory", 46), ("phase", "analysis"),
         ("analysis_total", 0), ("analysed", 0), ("phase", "derivation"), ("phase", "verify")]
    )  # fmt: skip
    assert bar.bar is not None
    analysis, links, check = bar.bar.tasks[1], bar.bar.tasks[2], bar.bar.tasks[3]
    bar.stop()  # closes the open phase: what it did is its total
    for task in (analysis, links):
        assert str(_CountColumn().render(task)) == "nothing to do"
        assert str(_RateColumn().render(task)) == ""
    assert check.description == "source check" and str(_CountColumn().render(check)) == "done"


def test_progress_of_an_empty_source_says_no_files_found() -> None:
    bar = bar_after([("phase", "inventory"), ("phase", "analysis"), ("analysis_total", 0)])
    assert bar.bar is not None
    inventory = bar.bar.tasks[0]
    assert str(_CountColumn().render(inventory)) == "no files found"
    bar.stop()


def test_progress_takes_a_pairs_phase_named_by_the_pass() -> None:
    bar = bar_after(
        [("phase", "derivation"), ("analysis_total", 5), ("analysed", 5), ("phase", "pairs"),
         ("analysis_total", 7), ("analysed", 7)]
    )  # fmt: skip
    assert tasks_of(bar)[-2:] == [
        ("link: images", 5, 5, "images"),
        ("link: pairs", 7, 7, "pairs"),
    ]
    bar.stop()


def link(confidence: float, direction: str, others: int = 0) -> LinkView:
    return LinkView(
        derived="/cases/evidence/a/copy.jpg",
        source="/cases/evidence/b/photo.jpg",
        derived_sha256="d" * 64,
        source_sha256="s" * 64,
        derived_paths=["/cases/evidence/a/copy.jpg"],
        source_paths=["/cases/evidence/b/photo.jpg"],
        transform={"crop_fraction": 0.0, "scale": 2.0, "rotation_deg": 0.0, "mirrored": False},
        changed_fraction=0.0,
        changed_boxes=[],
        face_swap=False,
        face={},
        confidence=confidence,
        direction=direction,
        evidence={},
        other_possible_sources=[OtherSource(f"{n}" * 64, f"/o/{n}.jpg") for n in range(others)],
        render_dir=None,
    )


def test_links_say_copies_of_each_other_when_the_direction_is_unknown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = SourcePaths([CaseSource("/cases/evidence", "folder")])
    links_cli._print_links(
        [link(0.5, "unknown"), link(0.98, "stated"), link(0.98, "stated", others=2)], paths
    )
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if "evidence/a/copy.jpg" in line]
    assert len(rows) == 3, text
    unknown, stated, several = rows
    assert "copies of each other, direction unknown: evidence/b/photo.jpg" in unknown
    assert "made from" not in unknown and "0.50 (direction unknown)" in unknown
    assert "made from evidence/b/photo.jpg" in stated and "0.98" in stated
    # the direction holds, the source does not: never a bare 0.98 beside "or N other(s)"
    assert "or 2 other(s) (no evidence which)" in several
    assert "0.98 (source: one of 3)" in several
    assert "direction confidence" in text and "paths below /cases (source: evidence)" in text


def test_source_paths() -> None:
    one = SourcePaths([CaseSource("/m/seized", "folder")])
    assert one.below("/m/seized/a/b.jpg") == "seized/a/b.jpg"
    assert one.below("/m/seized") == "seized"
    assert one.below("/m/seized/x.zip!/in/y.jpg") == "seized/x.zip!/in/y.jpg"
    assert one.below("/m/seized2/a.jpg") == "/m/seized2/a.jpg"  # another folder: whole
    assert one.in_text("U1 appears in 2 folders (/m/seized/a b: 3, /m/seized: 1)") == (
        "U1 appears in 2 folders (seized/a b: 3, seized: 1)"
    )
    assert one.in_text("see /x/m/seized/a") == "see /x/m/seized/a"  # not a path below it
    assert one.in_text("'/m/seized/a.jpg' ['/m/seized']") == "'seized/a.jpg' ['seized']"
    several = SourcePaths(
        [
            CaseSource("/m/disk1", "folder"),
            CaseSource("/home/x/phone.zip", "file"),
            CaseSource("/a/DCIM", "folder"),
            CaseSource("/b/DCIM", "folder"),  # two sources of one name: shown whole
        ]
    )
    assert several.below("/home/x/phone.zip!/Camera/1.jpg") == "phone.zip!/Camera/1.jpg"
    assert several.below("/m/disk1/a.jpg") == "disk1/a.jpg"
    assert several.below("/a/DCIM/1.jpg") == "/a/DCIM/1.jpg"
    assert several.header == "paths below /home/x, /m (sources: disk1, phone.zip)"
    assert SourcePaths([]).header == "" and SourcePaths([]).below("/x") == "/x"


def test_person_show_prints_a_flagged_person(case: tuple[Path, Path]) -> None:
    """``person show`` lays a person's lists out as JSON; typed records in them (review flags,
    possible matches) are printed as their fields, not a TypeError traceback."""
    case_dir, _evidence = case
    for person in json.loads(invoke("persons", "--case", case_dir, "--json"))["persons"]:
        shown = invoke("person", "show", person["id"], "--case", case_dir)
        assert f"id: {person['id']}" in shown and "review: [" in shown, shown
        assert json.loads(invoke("person", "show", person["id"], "--case", case_dir, "--json"))


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_and_group_teaches_by_example_and_no_summary_is_cut() -> None:
    for command in _commands(main):
        text = invoke(*command, "--help", COLUMNS="80")
        assert "Examples:" in text and f"consentry {command[0]}" in text, (command, text)
        listing = text.partition("Commands:")[2]
        assert "..." not in listing, (command, listing)  # click cuts a long summary so
    top = invoke("--help", COLUMNS="80").partition("Commands:")[2]
    assert top.count("\n  ") >= 9 and "..." not in top, top


def test_json_text_writes_no_raw_control_or_direction_character() -> None:
    data = {"path": "a\u202egpj.jpg\x1b[2J\x7f\u2066 Zoë"}
    text = json_text(data)
    assert "\u202e" not in text and "\x1b" not in text and "\x7f" not in text
    assert "\u2066" not in text and "Zoë" in text  # letters stay readable
    assert json.loads(text) == data
    # a typed record inside the data (person show's review flags) is written as its fields
    flag = CaseSource("/m/a\u202eb", "folder")
    assert json.loads(json_text({"review": [flag]})) == {
        "review": [{"path": "/m/a\u202eb", "kind": "folder"}]
    }
