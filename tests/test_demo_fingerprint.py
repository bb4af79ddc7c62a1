"""The demo case behaves as it did before the package was restructured (issue 12): the JSON
report, links, persons, case summary and scan summary of the demo, normalised only for what must
vary between runs (scripts/demo_fingerprint.py says what), equal tests/golden/demo_fingerprint.json,
which was written by the code of the commit before the restructuring.

Runs the whole demo through ``python -m consentry`` in subprocesses (about a minute on 2 cores).
To accept an intended change of behaviour, rewrite the golden file with
``python scripts/demo_fingerprint.py --write tests/golden/demo_fingerprint.json`` and say why in
the commit.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "demo_fingerprint.py"
GOLDEN = ROOT / "tests" / "golden" / "demo_fingerprint.json"


def _demo_data_missing() -> str | None:
    """Why scripts/build_demo_evidence.py cannot build the demo evidence here, if it cannot."""
    for module in ("openpeople", "pillow_heif", "cv2"):
        if importlib.util.find_spec(module) is None:
            return f"the demo evidence needs `{module}` (pip install -e '.[demo]'), absent"
    from openpeople.io import get_curated_dir

    curated = Path(get_curated_dir())
    if not curated.is_dir() or not any((p / "assets").is_dir() for p in curated.iterdir()):
        return f"the openpeople synthetic persons ({curated}) are absent"
    return None


@pytest.mark.slow
def test_demo_fingerprint_matches_golden() -> None:
    reason = _demo_data_missing()
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", str(GOLDEN), "--max-diffs", "60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        "the demo's normalised outputs differ from the golden fingerprint "
        f"(exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
    )
