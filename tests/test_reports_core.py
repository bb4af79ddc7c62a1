"""Reports from a real scanned case: the data model (``reports.collect``), scoping, redaction.

The case is built from harmless synthetic people (``openpeople``, MIT) in folders named after
fictional persons, two of them enrolled with consent. The explicit-content analyzer is a
stand-in that calls an image explicit when it carries a magenta marker patch in its top-left
corner (added here to copies of harmless photos): no explicit image is ever used.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main
from consentry.reports.collect import CaseReport, ReportError, collect_case
from consentry.reports.options import ReportOptions

from .synthetic import write_jpeg

openpeople_io = pytest.importorskip(
    "openpeople.io", reason="the `openpeople` package (synthetic people, demo extra) is absent"
)

NAMES = ["Avery Lane", "Blake Moreno", "Casey Ito"]
ENROLLED = NAMES[:2]
MARKER = (255, 0, 255)


class MarkerScorer:
    """Stand-in Open-NSFW scorer: 0.97 for a picture with the magenta marker top-left, else
    0.01. Harmless images only; the seam is ``analyzers.explicit.load_explicit``."""

    model_sha256 = "1" * 64

    def score(self, rgb: np.ndarray) -> float:
        h, w = rgb.shape[:2]
        patch = rgb[: max(1, h // 40), : max(1, w // 40)].reshape(-1, 3).astype(int)
        close = np.abs(patch - np.array(MARKER)).max(axis=1) < 60
        return 0.97 if close.mean() > 0.8 else 0.01


def mark_explicit(src: Path, dst: Path) -> Path:
    """A copy of a harmless photo with the stand-in's marker: the stand-in calls it explicit."""
    img = Image.open(src).convert("RGB")
    img.thumbnail((800, 800))
    side = max(img.size) // 8
    img.paste(MARKER, (0, 0, side, side))
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst, "JPEG", quality=92)
    return dst


def people() -> list[Path]:
    root = Path(openpeople_io.get_curated_dir())
    return sorted(p / "assets" for p in root.iterdir() if (p / "assets").is_dir())[: len(NAMES)]


def ok(*args: str | Path) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three synthetic persons in folders named after them (two enrolled), an explicit-marked
    copy of one photo of each enrolled person, a zip holding a duplicate, a landscape."""
    root = tmp_path_factory.mktemp("reports")
    evidence, refs = root / "evidence", root / "refs"
    refs.mkdir()
    for name, assets in zip(NAMES, people(), strict=True):
        folder = evidence / name.replace(" ", "_")
        folder.mkdir(parents=True)
        for stem in ("amateur_selfie", "studio_posture"):
            shutil.copyfile(assets / f"{stem}.jpg", folder / f"{stem}.jpg")
        if name in ENROLLED:
            mark_explicit(assets / "amateur_selfie.jpg", folder / "edited_selfie.jpg")
            slug = name.replace(" ", "_")
            shutil.copyfile(assets / "studio_portrait.jpg", refs / f"{slug}.jpg")
            (refs / f"{slug}.json").write_text(
                json.dumps(
                    {
                        "consented_by": name,
                        "consented_at": "2026-11-02",
                        "scope": "search this case for images of me",
                        "recorded_by": "Test Advocate",
                    }
                )
            )
    write_jpeg(evidence / "DCIM" / "landscape.jpg", seed=5, width=640, height=480)
    with zipfile.ZipFile(evidence / "backup.zip", "w") as zf:
        zf.write(evidence / "Casey_Ito" / "amateur_selfie.jpg", "phone/selfie_copy.jpg")
    image_analysis.reset_process()
    mp = pytest.MonkeyPatch()
    mp.setattr(
        "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(MarkerScorer())
    )
    mp.delenv("CONSENTRY_KEY", raising=False)
    case_dir = root / "case"
    try:
        ok("scan", evidence, "--case", case_dir, "--workers", "1", "-q", "--examiner", "T. Ester")
        for name in ENROLLED:
            slug = name.replace(" ", "_")
            ok("person", "add", "--case", case_dir, "--name", name,
               "--consent", refs / f"{slug}.json", refs / f"{slug}.jpg")  # fmt: skip
    finally:
        mp.undo()
        image_analysis.reset_process()
    yield case_dir


def persons_of(case: Path) -> dict[str, dict]:
    data = json.loads(ok("persons", "--case", case, "--json"))
    return {p["id"]: p for p in data["persons"]}


def test_collect_lists_every_location_once_with_hashes_and_labels(case: Path) -> None:
    report = collect_case(case, ReportOptions())
    assert isinstance(report, CaseReport)
    summary = json.loads(ok("case", "summary", "--case", case, "--json"))
    assert len(report.items) == summary["files"]
    assert report.counts["files"].value == summary["files"]
    assert report.counts["unique_contents"].value == summary["unique_contents"]
    assert len({i.location for i in report.items}) == len(report.items)
    # the duplicate inside the zip: same SHA-256 as the file on disk, listed at both places
    dup = [i for i in report.items if i.location.endswith("backup.zip!/phone/selfie_copy.jpg")]
    assert len(dup) == 1 and dup[0].in_archive
    assert sum(1 for i in report.items if i.sha256 == dup[0].sha256) == 2
    labels = {i.location.rpartition("/")[2]: i.explicit_label for i in report.items if i.is_image}
    assert labels["edited_selfie.jpg"] == "explicit"
    assert labels["landscape.jpg"] == "none"
    for item in report.items:
        if item.explicit_label != "none" and item.thumbnail is not None:
            assert item.thumbnail_blurred, item
        if item.sha256:
            assert len(item.sha256) == 64 and len(item.md5 or "") == 32
    # a marked copy is a visual near-duplicate of the photo it was made from
    edited = [i for i in report.items if i.location.endswith("edited_selfie.jpg")]
    for e in edited:
        original = next(
            i for i in report.items if i.location == e.location.replace("edited_", "amateur_")
        )
        assert e.visual_group is not None and e.visual_group == original.visual_group
    # sources re-verified from the files on disk, unchanged
    assert [s.reverified for s in report.sources] == [True]
    assert report.sources[0].files_checked == summary["files_on_disk"]
    assert report.audit_intact and report.audit[-1].seq == len(report.audit)
    names = {p.code: p.name for p in report.persons}
    assert {"Avery Lane", "Blake Moreno"} <= set(names.values())
    methods = {m.analyzer: m for m in report.methods}
    assert methods["explicit"].model_sha256 == ("1" * 64,)
    assert methods["explicit"].thresholds["explicit_from"] == 0.8
    assert any("not measured" in r.value for r in methods["explicit"].error_rates)
    assert report.links_status.startswith(("not run", "ok", "run:"))
    for key, count in report.counts.items():
        assert count.what, key


def test_unknown_person_is_a_clear_error(case: Path) -> None:
    with pytest.raises(ReportError, match="no person E99"):
        collect_case(case, ReportOptions(person="E99"))


def test_person_scope_holds_only_that_persons_items_and_no_other_person(case: Path) -> None:
    persons = persons_of(case)
    enrolled = sorted(c for c, p in persons.items() if p["kind"] == "enrolled" and p["items"])
    assert enrolled, persons
    code = enrolled[0]
    # show_paths: real file names, to compare with `persons` (by default a person-scoped
    # report names files neutrally: tests/test_scope_leaks.py)
    report = collect_case(case, ReportOptions(person=code, show_paths=True))
    assert sorted(i.location for i in report.items) == sorted(persons[code]["items"])
    assert [p.code for p in report.persons] == [code]
    text = json.dumps(report.as_dict())
    for other, p in persons.items():
        if other == code:
            continue
        assert not any(i.person_codes != (code,) for i in report.items)
        assert f'"{other}"' not in text, other
        if p["name"]:
            assert p["name"] not in text
            assert p["name"].replace(" ", "_") not in text
    assert persons[code]["name"] in text  # not redacted: the person's own name stays
    mine = set(persons[code]["items"])
    others_only = {i for c, p in persons.items() if c != code for i in p["items"]} - mine
    assert others_only
    for path in others_only:
        assert path not in text, path
    withheld = [a for a in report.audit if a.withheld]
    assert withheld and all(a.payload == {} for a in withheld)


def test_redact_replaces_names_with_codes_everywhere(case: Path) -> None:
    report = collect_case(case, ReportOptions(redact=True))
    text = json.dumps(report.as_dict())
    for name in NAMES:
        assert name not in text and name.replace(" ", "_") not in text, name
    assert any(i.location.startswith(("[E1]", "[E2]")) or "/[E" in i.location for i in report.items)
    assert all(p.name is None for p in report.persons)
