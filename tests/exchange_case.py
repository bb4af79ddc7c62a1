"""A real scanned case for the exchange-format tests (VICS, CASE/UCO, hash packs, notices).

Two persons enrolled with consent (Colin Powell E1, Tony Blair E2) from harmless LFW news
photos, their photos in folders named after them, one of Colin's photos also inside a zip (two
copies of one content), a picture without people and a text file. The explicit-content model
is a stand-in that scores every image 0.97, so the explicit path runs without any explicit image.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main

from .stand_ins import FixedScorer
from .synthetic import write_jpeg

LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
SKIP_REASON = "../shared/data/faces/lfw (harmless labelled faces) is absent"
COLIN, TONY = "Colin_Powell", "Tony_Blair"


def lfw(person: str, number: int) -> Path:
    return LFW / person / f"{person}_{number:04d}.jpg"


def ok(*args: str | Path) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _consent(folder: Path, name: str) -> Path:
    path = folder / f"consent-{name.split()[0].lower()}.json"
    path.write_text(
        json.dumps(
            {
                "consented_by": name,
                "consented_at": "2026-01-02",
                "scope": "search this case for images of me",
                "recorded_by": "A. Examiner",
            }
        )
    )
    return path


def build_case(root: Path) -> Path:
    """Scan the evidence under ``root`` and enroll both persons; returns the case folder."""
    evidence = root / "evidence"
    for person, numbers in ((COLIN, (3, 4, 5, 6)), (TONY, (3, 4, 5))):
        for n in numbers:
            target = evidence / person / f"{n}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lfw(person, n), target)
    with zipfile.ZipFile(evidence / "backup.zip", "w") as archive:
        archive.write(lfw(COLIN, 3), "DCIM/IMG_0001.jpg")
    write_jpeg(evidence / "DCIM" / "landscape.jpg", seed=3, width=400, height=300)
    (evidence / "notes.txt").write_text("not an image\n")
    case = root / "case"
    image_analysis.reset_process()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "consentry.analyzers.explicit.load_explicit",
            lambda: ExplicitAnalyzer(FixedScorer(0.97)),
        )
        ok("scan", evidence, "--case", case, "--workers", "1", "-q", "--examiner", "A. Examiner")
    image_analysis.reset_process()
    for name, person, refs in (("Colin Powell", COLIN, (1, 2)), ("Tony Blair", TONY, (2, 6))):
        ok(
            "person", "add", "--case", case, "--name", name, "--consent", _consent(root, name),
            *(lfw(person, n) for n in refs),
        )  # fmt: skip
    return case
