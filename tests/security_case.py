"""A small scanned case for the security tests (output paths, scope leaks, terminal escapes).

Two fictional persons (harmless synthetic people from ``openpeople``, MIT) are enrolled with
consent; their photos sit in folders named after them, and copies of them carry the hostile
file names a suspect's filing could have. The explicit-content analyzer is a stand-in
(``stand_ins.FixedScorer``) that calls every image explicit: no explicit image is used, and
every thumbnail is blurred.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main

from .stand_ins import FixedScorer

NAMES = ("Avery Lane", "Blake Moreno")


def people() -> list[Path]:
    openpeople_io = pytest.importorskip(
        "openpeople.io", reason="the `openpeople` package (synthetic people, demo extra) is absent"
    )
    root = Path(openpeople_io.get_curated_dir())
    found = sorted(p / "assets" for p in root.iterdir() if (p / "assets").is_dir())
    if len(found) < len(NAMES):
        pytest.skip("openpeople has fewer synthetic people than these tests need")
    return found[: len(NAMES)]


def cli(*args: str | Path, code: int = 0) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def variant(src: Path, dst: Path, n: int) -> Path:
    """A copy of a harmless photo with other bytes (mirrored / re-encoded): its own SHA-256,
    the same face."""
    img = Image.open(src).convert("RGB")
    img.thumbnail((640, 640))
    if n % 2:
        img = ImageOps.mirror(img)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst, "JPEG", quality=80 + n)
    return dst


def build_case(
    root: Path, extra: Mapping[int, list[str]], broken: list[str] = (), source_name: str = "ev"
) -> tuple[Path, Path, dict[str, str]]:
    """Scan ``root/source_name`` into ``root/case`` and enroll both persons.

    ``extra[i]``: more file names (relative to the source) holding variants of person i's
    selfie; ``broken``: names of files that are not decodable images (each a problem).
    Returns (case folder, source folder, {name: code})."""
    evidence, refs = root / source_name, root / "refs"
    refs.mkdir(parents=True)
    assets = people()
    for i, (name, person) in enumerate(zip(NAMES, assets, strict=True)):
        folder = evidence / name.replace(" ", "_")
        folder.mkdir(parents=True)
        shutil.copyfile(person / "amateur_selfie.jpg", folder / "amateur_selfie.jpg")
        for n, rel in enumerate(extra.get(i, []), start=1):
            variant(person / "amateur_selfie.jpg", evidence / rel, n)
        slug = name.replace(" ", "_")
        shutil.copyfile(person / "studio_portrait.jpg", refs / f"{slug}.jpg")
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
    for rel in broken:
        (evidence / rel).parent.mkdir(parents=True, exist_ok=True)
        (evidence / rel).write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    case_dir = root / "case"
    codes = scan_and_enroll(evidence, refs, case_dir, FixedScorer(0.97))
    return case_dir, evidence, codes


def scan_and_enroll(
    evidence: Path, refs: Path, case_dir: Path, scorer: object, *scan_args: str
) -> dict[str, str]:
    """Scan ``evidence`` into ``case_dir`` with ``scorer`` standing in for the explicit model,
    then enroll every person of NAMES from ``refs/<Name_Slug>.jpg`` and its ``.json`` consent.
    Returns {name: code}."""
    image_analysis.reset_process()
    mp = pytest.MonkeyPatch()
    mp.setattr("consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(scorer))
    mp.delenv("CONSENTRY_KEY", raising=False)
    try:
        cli("scan", evidence, "--case", case_dir, "--workers", "1", "-q", "--no-links", *scan_args)
        for name in NAMES:
            slug = name.replace(" ", "_")
            cli("person", "add", "--case", case_dir, "--name", name,
                "--consent", refs / f"{slug}.json", refs / f"{slug}.jpg")  # fmt: skip
    finally:
        mp.undo()
        image_analysis.reset_process()
    persons = json.loads(cli("persons", "--case", case_dir, "--json"))["persons"]
    codes = {p["name"]: p["id"] for p in persons if p["kind"] == "enrolled"}
    assert set(codes) == set(NAMES), persons
    return codes
