"""A third-party analyzer, installed from outside the package, shows up everywhere a built-in
does: the scan, ``case summary`` (text and JSON), the JSON and HTML reports, the methods section
and the CASE/UCO export — with no file of consentry naming it (issue 12, the analyzer contract).

The toy is a separate distribution written to a temporary folder: a module and a
``toy_consentry_analyzer-0.1.dist-info`` with ``entry_points.txt`` in the ``consentry.analyzers``
group, found by ``importlib.metadata`` once that folder is on ``PYTHONPATH``. It labels images
``dark`` / ``bright`` by mean brightness, with a "model file" whose SHA-256 it reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from consentry.analyzers import registry
from consentry.analyzers.contract import (
    AnalysisInput,
    Analyzer,
    Finding,
    ModelDigest,
    Threshold,
)
from consentry.analyzers.plan import AnalysisPlan

ROOT = Path(__file__).resolve().parents[1]
MODEL_BYTES = b"toy brightness model, version 1\n"
MODEL_SHA256 = hashlib.sha256(MODEL_BYTES).hexdigest()

TOY_MODULE = '''
"""A toy consentry analyzer: is the picture dark or bright?"""

import hashlib
from dataclasses import dataclass
from pathlib import Path

from consentry.analyzers.contract import (
    Analyzer, CountedLabel, ErrorRate, Finding, FindingCounts, MethodDescription, ModelDigest,
    Threshold,
)

MODEL = Path(__file__).with_name("toy_brightness.model")
DARK_BELOW = 100.0


@dataclass(frozen=True)
class BrightnessPayload:
    mean: float

    def to_json(self):
        return {"mean": self.mean}


class BrightnessAnalyzer(Analyzer):
    name = "brightness"
    version = "0.1"
    method = MethodDescription(
        "Toy: the mean of the RGB values; dark below 100, else bright.",
        (ErrorRate("mislabelled images", "not measured", "toy"),),
    )

    def __init__(self, sha256):
        self.sha256 = sha256

    @classmethod
    def load(cls, plan):
        return cls(hashlib.sha256(MODEL.read_bytes()).hexdigest())

    def model_files(self):
        return (ModelDigest("brightness_model", self.sha256, MODEL.name),)

    def thresholds(self):
        return (Threshold("dark_below", DARK_BELOW),)

    def analyze(self, content):
        mean = float(content.image.rgb.mean())
        return Finding(
            label="dark" if mean < DARK_BELOW else "bright",
            score=round(mean / 255.0, 4),
            payload=BrightnessPayload(round(mean, 2)),
            model_key=self.sha256,
        )

    @classmethod
    def counting(cls):
        return FindingCounts(
            cls.name,
            (
                CountedLabel("brightness_dark_images", "dark", "dark images (toy brightness)"),
                CountedLabel("brightness_bright_images", "bright", "bright images (toy)"),
            ),
            not_analysed_text="images not checked for brightness",
        )
'''


def _install_toy(site: Path, module: str = TOY_MODULE, name: str = "brightness") -> Path:
    """Write the toy distribution into ``site`` (a folder to put on PYTHONPATH)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "toy_consentry_analyzer.py").write_text(textwrap.dedent(module))
    (site / "toy_brightness.model").write_bytes(MODEL_BYTES)
    info = site / "toy_consentry_analyzer-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-consentry-analyzer\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        f"[consentry.analyzers]\n{name} = toy_consentry_analyzer:BrightnessAnalyzer\n"
    )
    return site


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT / "src")])
    proc = subprocess.run(
        [sys.executable, "-m", "consentry", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture()
def evidence(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    root.mkdir()
    Image.new("RGB", (320, 240), (20, 20, 30)).save(root / "night.png")
    Image.new("RGB", (320, 240), (230, 230, 210)).save(root / "snow.png")
    gradient = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    gradient.save(root / "gradient.png")  # mean ~127: bright
    return root


@pytest.mark.slow
def test_a_plug_in_analyzer_appears_in_scan_summary_reports_and_methods(
    tmp_path: Path, evidence: Path
) -> None:
    site = _install_toy(tmp_path / "site")
    case = tmp_path / "case"
    # the built-in models are left out: the toy alone shows the contract is enough
    skip = ("--skip", "explicit,faces,provenance", "--no-links", "--workers", "1", "-q")
    scan = json.loads(
        _cli(site, "scan", str(evidence), "--case", str(case), *skip, "--json").stdout
    )
    assert scan["brightness"]["brightness_dark_images"] == 1
    assert scan["brightness"]["brightness_bright_images"] == 2
    assert scan["brightness"]["by_label"]["bright"] == {"files": 2, "unique_images": 2}
    assert scan["brightness"]["images_not_analysed"] == 0

    summary = json.loads(_cli(site, "case", "summary", "--case", str(case), "--json").stdout)
    assert summary["brightness"] == scan["brightness"]
    text = _cli(site, "case", "summary", "--case", str(case)).stdout
    assert "dark images (toy brightness)" in text
    assert "images not checked for brightness" in text

    report = tmp_path / "report.json"
    _cli(site, "report", "--case", str(case), "--format", "json", "--out", str(report))
    doc = json.loads(report.read_text())
    labels = {
        i["rel_path"]: [f["label"] for f in i.get("findings", []) if f["analyzer"] == "brightness"]
        for i in doc["items"]
    }
    assert labels == {"night.png": ["dark"], "snow.png": ["bright"], "gradient.png": ["bright"]}
    assert doc["counts"]["brightness_dark_images"]["value"] == 1
    assert doc["counts"]["brightness_bright_images"]["basis"] == "inferred"
    (method,) = [m for m in doc["methods"] if m["analyzer"] == "brightness"]
    assert method["version"] == "0.1"
    assert method["model_sha256"] == [MODEL_SHA256]
    assert method["thresholds"] == {"dark_below": 100.0}
    assert method["description"].startswith("Toy: the mean of the RGB values")
    assert method["contents"] == 3

    import jsonschema

    from consentry.reports.json_report import load_schema

    jsonschema.validate(doc, load_schema())

    html = tmp_path / "report.html"
    _cli(site, "report", "--case", str(case), "--format", "html", "--out", str(html))
    page = html.read_text()
    assert "Toy: the mean of the RGB values" in page  # the methods section
    assert MODEL_SHA256 in page
    assert "brightness: dark" in page  # the file inventory
    assert "brightness dark images" in page  # the inferred counts

    uco = tmp_path / "case.jsonld"
    _cli(site, "report", "--case", str(case), "--format", "case", "--out", str(uco))
    graph = json.loads(uco.read_text())["@graph"]
    classes = {
        c["analysis:class"]
        for n in graph
        for facet in n.get("core:hasFacet", [])
        for c in facet.get("analysis:classification", [])
    }
    assert {"brightness:dark", "brightness:bright"} <= classes
    assert any(n.get("core:name") == "consentry brightness analyzer" for n in graph)


def test_no_core_module_names_the_toy() -> None:
    core = ROOT / "src" / "consentry"
    for path in core.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".j2", ".json"):
            text = path.read_text(encoding="utf-8")
            assert "toy_consentry_analyzer" not in text and "BrightnessAnalyzer" not in text, path


class _Toy(Analyzer):
    name = "toy_unit"
    version = "1"

    @classmethod
    def load(cls, plan: AnalysisPlan) -> _Toy:
        return cls()

    def model_files(self) -> tuple[ModelDigest, ...]:
        return ()

    def thresholds(self) -> tuple[Threshold, ...]:
        return ()

    def analyze(self, content: AnalysisInput) -> Finding:
        raise NotImplementedError


@pytest.fixture()
def fresh_registry() -> Iterator[None]:
    registry.reset()
    yield
    registry.reset()


def test_registry_refuses_a_taken_name_and_keeps_builtins_first(fresh_registry: None) -> None:
    registry.register(_Toy)
    assert registry.names()[:3] == registry.BUILTIN_NAMES
    assert "toy_unit" in registry.names()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_Toy)

    class Impostor(_Toy):
        name = "explicit"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Impostor)
    with pytest.raises(TypeError):
        registry.register(object)  # type: ignore[arg-type]
    with pytest.raises(registry.UnknownAnalyzer):
        registry.get("nothing_of_that_name")


def test_a_broken_plug_in_is_one_warning_not_a_crash(tmp_path: Path) -> None:
    """A plug-in whose module raises on import is left out with one line; the others run."""
    site = _install_toy(tmp_path / "site", module="raise RuntimeError('toy is broken')\n")
    code = (
        "from consentry.analyzers import registry\n"
        "names = [c.name for c in registry.analyzers()]\n"
        "print(names)\n"
        "print(registry.problems())\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT / "src")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    names, problems = proc.stdout.splitlines()
    assert names == str(list(registry.BUILTIN_NAMES))
    assert "brightness" in problems and "toy is broken" in problems
    assert proc.stderr.count("toy is broken") == 1  # said once on stderr

    # and a scan asked for the broken one says so in one line, exit 2 (misuse), no traceback
    env_scan = dict(env)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    Image.new("RGB", (64, 64), (0, 0, 0)).save(evidence / "a.png")
    proc = subprocess.run(
        [sys.executable, "-m", "consentry", "scan", str(evidence), "--case", str(tmp_path / "c")]
        + ["--only", "brightness", "--no-links", "-q"],
        capture_output=True,
        text=True,
        env=env_scan,
        timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "brightness" in proc.stderr
