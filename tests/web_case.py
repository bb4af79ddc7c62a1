"""A small harmless case for the web app's browser tests, screenshots and benchmarks.

Two fictional persons (harmless synthetic people from ``openpeople``, MIT) are enrolled with
consent; 22 harmless photos of them sit in their folders. The explicit-content analyzer is a
stand-in (``MarkerScorer``): it calls an image explicit when its top-left corner carries a
magenta marker square, which a few of the copies have. No explicit image is used anywhere;
the marked copies only exercise the blurred path (``media.thumbnails.must_blur``).

Users (one per role) and requests (one of them far overdue) are added through the CLI.
``blur_energy`` / ``looks_blurred`` tell blurred thumbnail bytes from sharp ones.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image, ImageOps

from consentry.cli.main import main

from .security_case import NAMES, people, scan_and_enroll

PER_PERSON = 11  # 2 x 11 images: enough for keyboard review of 20
MARKED = (3, 7)  # copies (per person) carrying the stand-in's "explicit" marker
MARKER = 24  # marker square side, pixels
PASSWORD = "correct horse battery staple"
# the mean absolute Laplacian of a 256-px thumbnail: obscure() output stays far below it, a
# sharp photo thumbnail far above (calibrated in tests/test_web_case.py on both kinds)
BLUR_BOUND = 2.5


@dataclass(frozen=True)
class WebCase:
    case_dir: Path
    codes: dict[str, str]  # person name -> code
    users: dict[str, str]  # role -> user name (password PASSWORD for all)
    marked: tuple[str, ...]  # relative file names of the copies the stand-in calls explicit


class MarkerScorer:
    """Stand-in whole-image model: explicit (0.97) when the top-left corner is magenta."""

    model_sha256 = "0" * 64

    def score(self, rgb: np.ndarray) -> float:
        corner = rgb[2 : MARKER - 4, 2 : MARKER - 4].astype(np.int16)
        if corner.size == 0:
            return 0.01
        r, g, b = corner[..., 0].mean(), corner[..., 1].mean(), corner[..., 2].mean()
        return 0.97 if r > 200 and b > 200 and g < 60 else 0.01


def cli(*args: str | Path, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], input=stdin)
    assert result.exit_code == 0, f"consentry {' '.join(map(str, args))}: {result.output}"
    return result.output


def variant(src: Path, dst: Path, n: int, marked: bool) -> None:
    """A harmless copy with its own bytes (size / mirror / quality vary), optionally marked."""
    img = Image.open(src).convert("RGB")
    img.thumbnail((480 + 8 * n, 480 + 8 * n))
    if n % 2:
        img = ImageOps.mirror(img)
    if marked:
        img.paste((255, 0, 255), (0, 0, MARKER, MARKER))
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.save(dst, "JPEG", quality=80 + n % 15)


def build_scanned_case(root: Path) -> tuple[Path, dict[str, str], tuple[str, ...]]:
    """Scan the harmless photos into ``root/case`` and enroll both persons (~6 s).

    Returns (case folder, {person name: code}, the marked copies' relative names)."""
    evidence, refs, case_dir = root / "evidence", root / "refs", root / "case"
    refs.mkdir(parents=True, exist_ok=True)
    marked: list[str] = []
    for name, person in zip(NAMES, people(), strict=True):
        slug = name.replace(" ", "_")
        for n in range(PER_PERSON):
            src = person / ("amateur_selfie.jpg" if n % 2 == 0 else "studio_portrait.jpg")
            rel = f"{slug}/photo_{n:02d}.jpg"
            variant(src, evidence / rel, n, n in MARKED)
            if n in MARKED:
                marked.append(rel)
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
    codes = scan_and_enroll(evidence, refs, case_dir, MarkerScorer(), "--examiner", "Test Examiner")
    return case_dir, codes, tuple(marked)


def build_web_case(root: Path) -> WebCase:
    """Scan, enroll, add users (one per role) and requests; returns where things are."""
    case_dir, codes, marked = build_scanned_case(root)
    users = {
        "examiner": "examiner1",
        "case_manager": "manager1",
        "advocate": "advocate1",
        "reviewer": "reviewer1",
    }
    for role, user in users.items():
        scope = ["--person", codes[NAMES[0]]] if role == "advocate" else []
        cli("user", "add", "--case", case_dir, "--role", role, *scope, user,
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    first = codes[NAMES[0]]
    cli("requests", "add", "--case", case_dir, "--person", first, "--kind", "takedown",
        "--asked-by", "Avery Lane", "--asked-at", "2026-01-05T09:00:00Z")  # fmt: skip
    cli("requests", "add", "--case", case_dir, "--person", codes[NAMES[1]],
        "--kind", "interim_measure", "--asked-by", "Blake Moreno")  # fmt: skip
    return WebCase(case_dir, codes, users, marked)


def blur_energy(jpeg: bytes) -> float:
    """Mean absolute Laplacian of the decoded image's grey levels (high-frequency energy)."""
    grey = np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=np.float32)
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = (
        -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    )
    return float(np.abs(lap).mean())


def looks_blurred(jpeg: bytes) -> bool:
    """True when the bytes hold an image as smooth as ``media.thumbnails.obscure`` makes."""
    return blur_energy(jpeg) < BLUR_BOUND
