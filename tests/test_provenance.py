"""The provenance analyzer as a whole: the verdict policy, errors as values, the payload, and the
learned-detector seam (a tiny ONNX model built here; no weights ship, none are downloaded).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from consentry.analyzers.models import ModelUnavailable
from consentry.analyzers.provenance import (
    NAME,
    VERSION,
    CheckStatus,
    ProvenanceAnalyzer,
    ProvenanceFinding,
)
from consentry.analyzers.provenance import watermark as wm
from consentry.analyzers.provenance.c2pa import C2paAction, C2paEvidence, Validation
from consentry.analyzers.provenance.detector import DetectorScore, OnnxDetector
from consentry.analyzers.provenance.generators.base import GeneratorMetadata
from consentry.analyzers.provenance.metadata import FileMetadata
from consentry.analyzers.provenance.policy import (
    Signal,
    SignalKind,
    Strength,
    Verdict,
    signals_for,
    verdict_for,
)
from consentry.media.decode import decode_image
from tests.synthetic import photo_like

onnx = pytest.importorskip("onnx", reason="onnx is not installed")


def png(seed: int = 1, size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, *size).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def analyzer() -> ProvenanceAnalyzer:
    return ProvenanceAnalyzer.load()


# --- verdict policy ------------------------------------------------------------------------------
def ai_c2pa(validation: Validation, active: bool = True) -> C2paEvidence:
    action = C2paAction("c2pa.created", "trainedAlgorithmicMedia", "Gen 1", "urn:x", active)
    return C2paEvidence(
        present=True,
        validation=validation,
        actions=(action,),
        digital_source_types=("trainedAlgorithmicMedia",),
        claim_generator="Gen 1",
    )


def match(mark: str, matched: int) -> wm.WatermarkMatch:
    spec = next(m for m in wm.MARKS if m.name == mark)
    return wm.WatermarkMatch(mark, spec.generator, len(spec.bits), matched, spec.band(matched))


@pytest.mark.parametrize(
    ("c2pa", "marks", "expected"),
    [
        (ai_c2pa(Validation.TRUSTED), [], Verdict.CONFIRMED),
        (ai_c2pa(Validation.VALID_UNTRUSTED), [], Verdict.INDICATED),
        (ai_c2pa(Validation.INVALID), [], Verdict.INDICATED),
        (ai_c2pa(Validation.TRUSTED, active=False), [], Verdict.INDICATED),  # ingredient only
        (None, [match("sdxl", 48)], Verdict.CONFIRMED),
        (None, [match("sdxl", 41)], Verdict.CONFIRMED),  # chance 3.1e-7 <= 1e-6
        (None, [match("sdxl", 40)], Verdict.INDICATED),  # Stability's "very likely", chance 2.1e-6
        (None, [match("sdxl", 36)], Verdict.INDICATED),
        (None, [match("sdxl", 35)], Verdict.NO_SIGNAL),  # Stability's "likely": context only
        (None, [match("sdxl", 34)], Verdict.NO_SIGNAL),
        (None, [match("sdxl", 33)], Verdict.NO_SIGNAL),  # "partial": no signal at all
        (None, [match("sdxl", 27)], Verdict.NO_SIGNAL),
        (None, [match("sd1", 89)], Verdict.INDICATED),
        (None, [match("sd1", 96)], Verdict.CONFIRMED),
        (None, [match("sd2", 30)], Verdict.CONFIRMED),
        (None, [match("flux", 39)], Verdict.CONFIRMED),
        (None, [match("flux", 38)], Verdict.INDICATED),
        (None, [], Verdict.NO_SIGNAL),
    ],
)
def test_verdict_policy(
    c2pa: C2paEvidence | None, marks: list[wm.WatermarkMatch], expected: Verdict
) -> None:
    assert verdict_for(signals_for(c2pa, marks, None, None, None)) is expected


def test_metadata_and_detector_can_only_indicate() -> None:
    record = GeneratorMetadata(tool="automatic1111", source="png:parameters", seeds=(1,))
    metadata = FileMetadata(
        generators=(record,),
        digital_source_types=("trainedAlgorithmicMedia",),
        generator_software=("NovelAI",),
    )
    detector = DetectorScore(0.99, 0.5, "a" * 64, "m.onnx")
    signals = signals_for(None, [], metadata, record, detector)
    assert {s.strength for s in signals} == {Strength.INDICATES}
    assert verdict_for(signals) is Verdict.INDICATED
    below = signals_for(None, [], None, None, DetectorScore(0.2, 0.5, "a" * 64, "m.onnx"))
    assert [s.strength for s in below] == [Strength.CONTEXT]
    assert verdict_for(below) is Verdict.NO_SIGNAL


def test_every_signal_has_a_name_for_the_report() -> None:
    """Reports show "indicated: ComfyUI workflow metadata": each signal states its name, and
    findings stored before names were recorded get their kind's."""
    from consentry.analyzers.provenance.policy import SIGNAL_NAMES, signal_name

    comfy = GeneratorMetadata(tool="comfyui", source="png:prompt", seeds=(1,))
    metadata = FileMetadata(
        generators=(comfy,),
        digital_source_types=("trainedAlgorithmicMedia",),
        generator_software=("NovelAI",),
    )
    detector = DetectorScore(0.99, 0.5, "a" * 64, "m.onnx")
    signals = signals_for(
        ai_c2pa(Validation.VALID_UNTRUSTED), [match("sdxl", 48)], metadata, comfy, detector
    )
    names = [s.name for s in signals]
    assert all(names), signals
    assert "ComfyUI workflow metadata" in names
    assert "C2PA trainedAlgorithmicMedia claim (valid, untrusted signature)" in names
    assert "SDXL invisible watermark" in names or any("watermark" in n for n in names)
    assert set(SIGNAL_NAMES) == set(SignalKind)
    assert signal_name("watermark") == "invisible watermark"
    assert signal_name("watermark", "SDXL invisible watermark") == "SDXL invisible watermark"
    assert signal_name("some_new_kind") == "some new kind"


def test_likely_band_is_recorded_as_context() -> None:
    signals = signals_for(None, [match("sdxl", 35), match("flux", 20)], None, None, None)
    assert [(s.source, s.strength) for s in signals] == [("watermark:sdxl", Strength.CONTEXT)]
    assert "35/48" in signals[0].detail and "likely" in signals[0].detail


def test_strongest_signal_wins() -> None:
    signals = [
        Signal(SignalKind.C2PA_MANIFEST, Strength.CONTEXT, "x", "c2pa"),
        Signal(SignalKind.GENERATOR_METADATA, Strength.INDICATES, "x", "png"),
        Signal(SignalKind.WATERMARK, Strength.CONFIRMS, "x", "watermark:sdxl"),
    ]
    assert verdict_for(signals) is Verdict.CONFIRMED
    assert verdict_for(signals[:2]) is Verdict.INDICATED
    assert verdict_for(signals[:1]) is Verdict.NO_SIGNAL
    assert {v.value for v in Verdict} == {"confirmed", "indicated", "no_signal"}  # never "real"


# --- the analyzer ----------------------------------------------------------------------------
def test_plain_picture_has_no_signal_and_says_what_was_checked(
    analyzer: ProvenanceAnalyzer,
) -> None:
    finding = analyzer.analyze(png(), decode_image(png()))
    assert finding.verdict is Verdict.NO_SIGNAL and finding.signals == ()
    statuses = {c.name: c.status for c in finding.checks}
    assert statuses["c2pa"] is CheckStatus.CHECKED
    assert statuses["metadata"] is CheckStatus.CHECKED
    assert statuses["watermark"] is CheckStatus.CHECKED
    assert statuses["stealth"] is CheckStatus.CHECKED
    assert statuses["detector"] is CheckStatus.NOT_CHECKED
    assert finding.error is None
    assert (NAME, VERSION) == ("provenance", "1")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0" + b"\x13" * 100,
        png()[:200],  # truncated
    ],
)
def test_bad_bytes_are_errors_as_values(analyzer: ProvenanceAnalyzer, data: bytes) -> None:
    finding = analyzer.analyze(data)
    assert isinstance(finding, ProvenanceFinding)
    assert finding.verdict is Verdict.NO_SIGNAL
    assert any(c.status is not CheckStatus.CHECKED for c in finding.checks)
    json.dumps(finding.to_payload())


def test_payload_is_json(analyzer: ProvenanceAnalyzer) -> None:
    payload = analyzer.analyze(png()).to_payload()
    assert payload["verdict"] == "no_signal"
    assert {c["name"] for c in payload["checks"]} >= {"c2pa", "metadata", "watermark"}
    assert json.loads(json.dumps(payload)) == payload


def test_without_c2pa_python_the_check_is_recorded_not_skipped_silently() -> None:
    bare = ProvenanceAnalyzer(None, c2pa_unavailable="c2pa-python is not installed")
    finding = bare.analyze(png())
    check = next(c for c in finding.checks if c.name == "c2pa")
    assert check.status is CheckStatus.NOT_CHECKED and "not installed" in check.detail
    assert bare.describe()["c2pa_unavailable"] == "c2pa-python is not installed"


def test_describe_states_thresholds(analyzer: ProvenanceAnalyzer) -> None:
    described = analyzer.describe()
    assert described["c2pa_remote_manifest_fetch"] is False
    assert described["watermark_marks"]["sdxl"] == {
        "bits": 48,
        "very_likely_from": 36,
        "likely_from": 34,
        "partial_from": 28,
    }
    assert described["detector"] is None


# --- learned-detector seam -------------------------------------------------------------------
def mean_model(path: Path, two_classes: bool = False, layout: str = "nchw") -> Path:
    """A tiny ONNX 'classifier': the mean pixel value (in [0, 1]) is its P(AI)."""
    from onnx import TensorProto, helper

    shape = [1, 3, 64, 64] if layout == "nchw" else [1, 48, 48, 3]
    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0)]
    if two_classes:  # [1 - m, m] as raw scores
        nodes += [
            helper.make_node("Constant", [], ["one"], value=helper.make_tensor("o", 1, [], [1.0])),
            helper.make_node("Sub", ["one", "mean"], ["other"]),
            helper.make_node("Unsqueeze", ["other", "axes"], ["a"]),
            helper.make_node("Unsqueeze", ["mean", "axes"], ["b"]),
            helper.make_node("Concat", ["a", "b"], ["score"], axis=0),
        ]
        inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [0])]
        out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [2])
    else:
        nodes[0].output[0] = "score"
        inits = []
        out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [])
    graph = helper.make_graph(
        nodes,
        "mean_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [out],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def grey(value: int, size: int = 300) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def test_onnx_detector_adds_one_signal_with_its_file_hash(tmp_path: Path) -> None:
    import hashlib

    path = mean_model(tmp_path / "mean.onnx")
    analyzer = ProvenanceAnalyzer.load(detector_model=path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert analyzer.model_sha256 == digest
    assert analyzer.describe()["detector"]["sha256"] == digest

    bright = analyzer.analyze(grey(230))
    assert bright.detector is not None
    assert bright.detector.score == pytest.approx(230 / 255, abs=1e-4)
    assert bright.detector.model_sha256 == digest
    (signal,) = [s for s in bright.signals if s.kind is SignalKind.LEARNED_DETECTOR]
    assert signal.strength is Strength.INDICATES and digest[:12] in signal.detail
    assert bright.verdict is Verdict.INDICATED  # a detector can never confirm

    dark = analyzer.analyze(grey(20), decode_image(grey(20)))
    assert dark.detector is not None and dark.detector.score == pytest.approx(20 / 255, abs=1e-4)
    assert dark.verdict is Verdict.NO_SIGNAL
    assert [s.strength for s in dark.signals] == [Strength.CONTEXT]


def test_onnx_detector_two_class_output_and_nhwc(tmp_path: Path) -> None:
    rgb = np.full((100, 100, 3), 200, np.uint8)
    two = OnnxDetector(mean_model(tmp_path / "two.onnx", two_classes=True))
    # [1 - m, m] already sums to 1: taken as probabilities, class 1 is the AI class
    assert two.score(rgb) == pytest.approx(200 / 255, abs=1e-4)
    nhwc = OnnxDetector(mean_model(tmp_path / "nhwc.onnx", layout="nhwc"))
    assert nhwc.score(rgb) == pytest.approx(200 / 255, abs=1e-4)


def test_onnx_detector_refuses_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable):
        OnnxDetector(tmp_path / "absent.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable):
        ProvenanceAnalyzer.load(detector_model=broken)


def test_detector_failure_on_one_image_is_a_value(tmp_path: Path) -> None:
    analyzer = ProvenanceAnalyzer.load(detector_model=mean_model(tmp_path / "m.onnx"))
    finding = analyzer.analyze(b"garbage")
    check = next(c for c in finding.checks if c.name == "detector")
    assert check.status is CheckStatus.ERROR
    assert finding.error is not None and "detector" in finding.error
