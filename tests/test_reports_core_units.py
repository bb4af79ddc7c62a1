"""Report building blocks on small inputs: source re-verification catches changed and missing
evidence, PDQ near-duplicate groups, and the redaction rules for paths and text."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from consentry.analyzers.pdq import pdq_of_rgb
from consentry.cli.main import main
from consentry.reports.collect import collect_case
from consentry.reports.options import ReportOptions
from consentry.reports.redact import OTHER_PERSON, Redactor
from consentry.reports.visual import visual_groups
from consentry.store.rows import LocationRow

from .synthetic import photo_like, write_jpeg


@pytest.fixture()
def small_case(tmp_path: Path) -> tuple[Path, Path]:
    evidence = tmp_path / "evidence"
    for i in range(3):
        write_jpeg(evidence / f"{i}.jpg", seed=70 + i, width=320, height=240)
    case = tmp_path / "case"
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(case), "--workers", "1", "-q",
               "--skip", "explicit,faces,provenance"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return evidence, case


def test_reverification_finds_changed_and_missing_evidence(
    small_case: tuple[Path, Path],
) -> None:
    evidence, case = small_case
    report = collect_case(case, ReportOptions())
    assert [(s.reverified, s.files_checked, s.changed, s.missing) for s in report.sources] == [
        (True, 3, 0, 0)
    ]
    # one byte changed with size and mtime put back (what `stat` cannot see), one file gone
    target = evidence / "1.jpg"
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[-3] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    (evidence / "2.jpg").unlink()
    (source,) = collect_case(case, ReportOptions()).sources
    assert (source.reverified, source.changed, source.missing) == (False, 1, 1)
    assert any("1.jpg: SHA-256 now" in d for d in source.details)
    assert any("2.jpg: missing" in d for d in source.details)
    (quick,) = collect_case(case, ReportOptions(reverify="stat")).sources
    assert (quick.changed, quick.missing) == (0, 1)  # the limitation the README states
    (skipped,) = collect_case(case, ReportOptions(reverify="none")).sources
    assert skipped.reverified is None and skipped.files_checked == 0
    # the report only reads: the evidence is as the test left it
    assert target.read_bytes() == bytes(data)


def test_visual_groups_join_near_copies_and_leave_others_alone(tmp_path: Path) -> None:
    base = photo_like(5, 400, 300)
    near = base.copy()
    near.paste((250, 0, 250), (0, 0, 30, 30))  # a small edit: still a visual duplicate
    other = photo_like(99, 400, 300)
    rows = []
    for i, (name, img) in enumerate((("a", base), ("b", near), ("c", other))):
        h = pdq_of_rgb(np.asarray(img), dihedral=False)
        rows.append(
            LocationRow(
                id=i, parent_id=None, source_id=1, path=name, rel_path=name, size=None,
                mtime_ns=None, sha256=name * 64, member_chain="[]", md5=None, sha1=None,
                mime=None, width=None, height=None, pdq=h.hex, pdq_quality=h.quality,
                is_image=True,
            )
        )  # fmt: skip
    groups = visual_groups(rows)
    assert groups["a" * 64] == groups["b" * 64] == 1
    assert "c" * 64 not in groups


def test_redactor_rules() -> None:
    enrolled = {"E1": "Jane Doe", "E2": "Ann Lee"}
    roots = ["/mnt/seized"]
    full = Redactor(enrolled, scope=None, redact=False, roots=roots)
    assert full.path("/mnt/seized/Jane_Doe/IMG_1.jpg") == "/mnt/seized/Jane_Doe/IMG_1.jpg"
    red = Redactor(enrolled, scope=None, redact=True, roots=roots)
    assert red.path("/mnt/seized/Jane_Doe/IMG_1.jpg") == "/mnt/seized/[E1]/IMG_1.jpg"
    assert red.path("/mnt/seized/Mary_Major/x.jpg") == "/mnt/seized/[name withheld 1]/x.jpg"
    # the name is replaced where it stands: ann_lee_03 and ann_lee_04 stay two files (issue 13)
    assert red.path("/mnt/seized/DCIM/ann_lee_03.jpg") == "/mnt/seized/DCIM/[E2]_03.jpg"
    assert red.text("enrolled Jane  Doe; jane_doe") == "enrolled [E1]; [E1]"
    scoped = Redactor(enrolled, scope="E1", redact=False, roots=roots)
    assert scoped.path("/mnt/seized/Jane_Doe/a.jpg") == "/mnt/seized/Jane_Doe/a.jpg"
    assert scoped.path("/mnt/seized/AnnLee/a.jpg") == f"/mnt/seized/{OTHER_PERSON}/a.jpg"
    assert scoped.text("Ann Lee and Jane Doe") == f"{OTHER_PERSON} and Jane Doe"
    assert scoped.text("group matches E2, not E1 or U12") == (
        f"group matches {OTHER_PERSON}, not E1 or {OTHER_PERSON}"
    )
    assert red.text("group matches E2") == "group matches E2"  # redaction keeps codes
    # the examiner's own folders above the source root keep their names
    assert scoped.path("/mnt/seized/camera roll/b.jpg") == "/mnt/seized/camera roll/b.jpg"


def test_html_escapes_what_the_evidence_names(small_case: tuple[Path, Path]) -> None:
    from dataclasses import replace

    from consentry.reports.html_report import render_html

    _, case = small_case
    report = collect_case(case, ReportOptions(reverify="none"))
    hostile = '<script>alert("x")</script><img src=http://example.org/a.png>.jpg'
    report.items[0] = replace(report.items[0], location=hostile)
    html = render_html(report)
    assert "<script>alert" not in html and "<img src=http" not in html
    assert "&lt;script&gt;alert" in html


def test_source_file_list_hash_is_what_sha256sum_gives(small_case: tuple[Path, Path]) -> None:
    import hashlib
    import subprocess

    evidence, case = small_case
    (source,) = collect_case(case, ReportOptions(reverify="none")).sources
    listing = subprocess.run(
        "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum",
        shell=True, cwd=evidence, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert listing.count(b"\n") == 3
    assert source.manifest_sha256 == hashlib.sha256(listing).hexdigest()


def test_csv_guards_against_formulas_in_file_names(small_case: tuple[Path, Path]) -> None:
    import csv
    from dataclasses import replace

    from consentry.reports.csv_report import write_csv

    _, case = small_case
    report = collect_case(case, ReportOptions(reverify="none"))
    report.items[0] = replace(report.items[0], location='=HYPERLINK("http://x","y")', rel_path="@a")
    out = case.parent / "r.csv"
    write_csv(report, out, ReportOptions())
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["location"] == '\'=HYPERLINK("http://x","y")' and rows[0]["rel_path"] == "'@a"
    assert rows[1]["location"] == report.items[1].location  # ordinary names untouched


@pytest.mark.parametrize(
    ("rendered", "label_now", "shown"),
    [
        ("none,explicit", "explicit", True),  # derived picture drawn blurred
        ("explicit,none", "none", True),  # drawn sharp for `none`, still `none`
        ("none,none", "explicit", False),  # drawn sharp, since labelled explicit: refused
        ("none,none", None, False),  # label gone (re-analysis pending): refused
        ("none,unknown", None, True),
        ("", "none", False),  # never rendered
    ],
)
def test_derivation_mask_render_follows_the_blur_rule(
    rendered: str, label_now: str | None, shown: bool
) -> None:
    from types import SimpleNamespace

    from consentry.reports.collect import _safe_mask_render

    link = SimpleNamespace(render_dir="derivation/x_from_y", render_labels=rendered)
    assert (_safe_mask_render(link, label_now) is not None) is shown


def test_scoped_report_names_no_other_persons_photo_as_a_possible_source() -> None:
    """A link's other_possible_sources are hashes of other photos: a person-scoped report keeps
    only the person's own; the whole-case report keeps them all."""
    import json

    from consentry.reports import collect
    from consentry.store import links_store

    mine, also_mine, theirs = "a" * 64, "b" * 64, "c" * 64
    evidence = {"direction": [], "other_possible_sources": [also_mine, theirs]}
    link = links_store.LinkRecord(
        derived_sha256=mine, source_sha256=also_mine, version="v", transform="{}",
        changed_fraction=0.1, boxes="[]", face_swap=None, face="{}", confidence=0.9,
        evidence=json.dumps(evidence),
    )  # fmt: skip

    class FakeStore:
        def state(self) -> str:
            return "s"

        def links(self) -> list[object]:
            return [link]

    store = FakeStore()
    _, scoped = collect._derivation_links(store, {mine, also_mine}, "P001", {})  # type: ignore[arg-type]
    assert scoped[0].details["evidence"]["other_possible_sources"] == [also_mine]
    _, whole = collect._derivation_links(store, {mine, also_mine, theirs}, None, {})  # type: ignore[arg-type]
    assert whole[0].details["evidence"]["other_possible_sources"] == [also_mine, theirs]
