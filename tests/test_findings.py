"""Explicit and face findings in a scan, the blur rule, --only/--skip and later re-analysis.

The explicit-content path is exercised with stand-in scorers at the seam
(``analyzers.explicit.load_explicit``): no explicit image is ever used.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import VERSION as explicit_version
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.analyzers.models import ModelUnavailable
from consentry.cli.main import EXIT_MISUSE, main
from consentry.media.thumbnails import PIXEL_BLOCKS, render_thumbnail

from .stand_ins import FixedScorer
from .synthetic import photo_like, write_jpeg


def _stand_in(monkeypatch: pytest.MonkeyPatch, score: float) -> None:
    image_analysis.reset_process()
    monkeypatch.setattr(
        "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(FixedScorer(score))
    )


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    image_analysis.reset_process()
    yield
    image_analysis.reset_process()


@pytest.fixture()
def evidence(tmp_path: Path) -> Path:
    root = tmp_path / "evidence"
    for i in range(5):
        write_jpeg(root / f"{i}.jpg", seed=40 + i, width=400, height=300)
    return root


def _scan(evidence: Path, case: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(case), "--workers", "1", "-q", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _rows(case: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


def _detail(path: Path) -> float:
    """Mean absolute difference between neighbouring pixels: high for a sharp photo."""
    a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean())


def _all_thumbnail_files(case: Path) -> list[Path]:
    return sorted((case / "thumbs").rglob("*.jpg"))


def test_explicit_label_means_only_blurred_thumbnails_reach_the_case(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_in(monkeypatch, 0.97)
    case = tmp_path / "case"
    summary = _scan(evidence, case, "--skip", "faces")
    assert summary["explicit"]["explicit_images"] == 5  # type: ignore[index]
    rows = _rows(case, "SELECT blurred, label FROM thumbnails")
    assert rows == [(1, "explicit")] * 5
    files = _all_thumbnail_files(case)
    assert len(files) == 5
    sharp_reference = _detail_of_sharp(evidence)
    for f in files:  # every image file the scan wrote, not just the ones the store lists
        assert _detail(f) < sharp_reference / 4, f


def _detail_of_sharp(evidence: Path) -> float:
    img, blurred = render_thumbnail(np.asarray(photo_like(40, 400, 300)), "none")
    assert not blurred
    path = evidence.parent / "sharp.png"
    img.save(path)
    return _detail(path)


def test_none_label_thumbnails_are_sharp(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stand_in(monkeypatch, 0.01)
    case = tmp_path / "case"
    summary = _scan(evidence, case, "--skip", "faces")
    assert summary["explicit"]["by_label"]["none"]["files"] == 5  # type: ignore[index]
    assert _rows(case, "SELECT DISTINCT blurred, label FROM thumbnails") == [(0, "none")]
    sharp_reference = _detail_of_sharp(evidence)
    for f in _all_thumbnail_files(case):
        assert _detail(f) > sharp_reference / 2  # the measure above can tell the difference


@pytest.mark.parametrize("label", ["explicit", "suggestive", "unknown", None])
def test_every_label_but_none_is_rendered_blurred(label: str | None) -> None:
    rgb = np.asarray(photo_like(3, 300, 200))
    img, blurred = render_thumbnail(rgb, label)
    assert blurred
    # at most PIXEL_BLOCKS x PIXEL_BLOCKS colour blocks survive before the final blur
    small = img.resize((PIXEL_BLOCKS, PIXEL_BLOCKS * 2 // 3), Image.Resampling.BOX)
    back = small.resize(img.size, Image.Resampling.BILINEAR)
    diff = np.abs(np.asarray(img, float) - np.asarray(back, float)).mean()
    assert diff < 12


def test_skipped_explicit_leaves_label_unknown_and_thumbnails_blurred(
    evidence: Path, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    summary = _scan(evidence, case, "--skip", "explicit,faces,provenance")
    assert summary["explicit"]["images_not_analysed"] == 5  # type: ignore[index]
    assert _rows(case, "SELECT DISTINCT blurred, label FROM thumbnails") == [(1, "unknown")]
    assert _rows(case, "SELECT count(*) FROM findings") == [(0,)]


def test_enabling_an_analyzer_later_adds_findings_without_rehashing(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = tmp_path / "case"
    _scan(evidence, case, "--skip", "explicit,faces,provenance")
    contents_before = _rows(case, "SELECT * FROM contents ORDER BY sha256")
    _stand_in(monkeypatch, 0.01)
    summary = _scan(evidence, case, "--only", "explicit")
    assert summary["analysed"] == 0  # no file was inventoried or hashed again
    assert _rows(case, "SELECT * FROM contents ORDER BY sha256") == contents_before
    findings = _rows(case, "SELECT analyzer, analyzer_version, model_sha256, label FROM findings")
    assert findings == [("explicit", explicit_version, "0" * 64, "none")] * 5
    # the thumbnails were re-rendered for the now-known label
    assert _rows(case, "SELECT DISTINCT blurred, label FROM thumbnails") == [(0, "none")]


def test_missing_model_is_one_clear_error_before_anything_is_written(
    evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> ExplicitAnalyzer:
        raise ModelUnavailable("open_nsfw", "file damaged (test)")

    monkeypatch.setattr("consentry.analyzers.explicit.load_explicit", broken)
    case = tmp_path / "case"
    result = CliRunner().invoke(main, ["scan", str(evidence), "--case", str(case), "-q"])
    assert result.exit_code == EXIT_MISUSE
    assert result.output.count("\n") == 1 and "open_nsfw" in result.output
    assert "--skip" in result.output
    assert not case.exists()


def test_unknown_analyzer_name_is_misuse(evidence: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(tmp_path / "c"), "--only", "magic"]
    )
    assert result.exit_code == EXIT_MISUSE and "unknown analyzer" in result.output


SHARED_LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"


def test_real_models_record_faces_and_explicit_findings(tmp_path: Path) -> None:
    people = sorted(SHARED_LFW.glob("*/*.jpg"))[:4]
    if not people:
        pytest.skip("../shared/data/faces/lfw is absent")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for p in people:
        (evidence / p.name).write_bytes(p.read_bytes())
    case = tmp_path / "case"
    summary = _scan(evidence, case)
    faces = summary["faces"]
    assert faces["unique_images_with_faces"] == 4  # type: ignore[index]
    assert faces["usable_faces"] >= 4  # type: ignore[index]
    assert summary["explicit"]["explicit_images"] == 0  # type: ignore[index]
    rows = _rows(case, "SELECT length(embedding), crop_path, usable FROM faces")
    assert all(r[0] == 128 * 4 for r in rows if r[2])
    for _, crop, _ in rows:
        assert crop and (case / crop).is_file()
    models = _rows(case, "SELECT analyzer, model_sha256 FROM findings")
    assert {a for a, _ in models} == {"explicit", "faces", "provenance"}
    assert all(m and len(m.split(",")[0]) == 64 for a, m in models if a != "provenance")
    assert {m for a, m in models if a == "provenance"} == {None}  # no detector given
    audit = CliRunner().invoke(main, ["audit", "show", "--case", str(case), "--json"]).output
    assert "open_nsfw_sha256" in audit and "yunet_sha256" in audit  # method stated per scan


def _openpeople_asset(person: str, name: str) -> Path:
    try:
        from openpeople.io import get_curated_dir
    except ImportError:
        pytest.skip("the openpeople package (demo extra) is not installed")
    path = Path(get_curated_dir()) / person / "assets" / name
    if not path.exists():
        pytest.skip(f"openpeople has no {person}/{name}")
    return path


def test_small_faces_in_full_body_photos_get_a_sharper_second_look(tmp_path: Path) -> None:
    """A full-body shot's face is ~40 px at 512 px: too small to identify. The scan looks again
    in a sharper decode; the face becomes usable and matches the same person's portrait."""
    from consentry.analyzers import faces as faces_mod
    from consentry.analyzers.faces import MATCH_SIMILARITY, MIN_FACE_SIDE, cosine_similarity
    from consentry.media.decode import decode_image

    posture = _openpeople_asset("P001", "studio_posture.jpg")
    portrait = _openpeople_asset("P001", "studio_portrait.jpg")
    image_analysis.init_process(image_analysis.AnalysisPlan(frozenset({"faces"})))
    analyzer = image_analysis._process["faces"].engine
    data = posture.read_bytes()
    image = decode_image(data)
    first = list(analyzer.analyze(image.rgb).faces)
    assert first and not first[0].usable and first[0].quality.size_px < MIN_FACE_SIDE
    looked = faces_mod.second_look(analyzer, image, data, first)
    assert looked[0].usable and looked[0].quality.size_px >= MIN_FACE_SIDE
    assert looked[0].box == first[0].box  # still in the analysed picture's frame
    reference = analyzer.analyze(decode_image(portrait.read_bytes()).rgb).faces[0]
    assert cosine_similarity(looked[0].embedding, reference.embedding) >= MATCH_SIMILARITY


def test_full_body_reference_photo_can_be_enrolled(tmp_path: Path) -> None:
    """Enrollment takes the same second look: a full-body reference photo yields a template."""
    from consentry.analyzers.faces import MIN_FACE_SIDE
    from consentry.persons.enroll import read_reference

    posture = _openpeople_asset("P002", "studio_posture.jpg")
    image_analysis.init_process(image_analysis.AnalysisPlan(frozenset({"faces"})))
    template = read_reference(posture, image_analysis._process["faces"].engine)
    assert template.quality.size_px >= MIN_FACE_SIDE


def test_provenance_runs_by_default_and_records_generator_metadata(tmp_path: Path) -> None:
    """In the default scan; added to an earlier scan's items without re-hashing. A PNG's A1111
    parameters become an `indicated` verdict with the prompt as evidence."""
    from PIL import PngImagePlugin

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a lighthouse at dusk\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, "
        "CFG scale: 7, Seed: 1234, Size: 320x240, Model hash: abc123, Model: demo_model",
    )
    photo_like(5, 320, 240).save(evidence / "gen.png", pnginfo=info)
    case = tmp_path / "case"
    _scan(evidence, case, "--skip", "faces,explicit,provenance")
    assert _rows(case, "SELECT count(*) FROM findings WHERE analyzer='provenance'") == [(0,)]
    summary = _scan(evidence, case, "--skip", "faces,explicit")
    assert summary["analysed"] == 0
    provenance = summary["provenance"]
    assert (provenance["indicated_ai"], provenance["no_signal"]) == (1, 0)  # type: ignore[index]
    assert provenance["images_not_analysed"] == 0  # type: ignore[index]
    ((label, payload),) = _rows(
        case, "SELECT label, payload FROM findings WHERE analyzer='provenance'"
    )
    assert label == "indicated"
    assert "a lighthouse at dusk" in str(payload)


def test_detector_model_adds_its_signal_and_hash_and_redoes_older_findings(
    tmp_path: Path,
) -> None:
    """--detector-model: the operator's ONNX file scores every image as one more provenance
    signal, its SHA-256 stored with the finding; findings made without it are redone."""
    import hashlib

    from .test_provenance import mean_model

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    Image.fromarray(np.full((200, 200, 3), 240, np.uint8)).save(evidence / "bright.png")
    case = tmp_path / "case"
    _scan(evidence, case, "--skip", "faces,explicit")
    ((model, payload),) = _rows(case, "SELECT model_sha256, payload FROM findings")
    assert model is None and "learned_detector" not in str(payload)

    detector = mean_model(tmp_path / "detector.onnx")
    summary = _scan(evidence, case, "--skip", "faces,explicit", "--detector-model", str(detector))
    assert summary["analysed"] == 0  # nothing re-inventoried or re-hashed
    ((label, model, payload),) = _rows(case, "SELECT label, model_sha256, payload FROM findings")
    assert model == hashlib.sha256(detector.read_bytes()).hexdigest()
    assert "learned_detector" in str(payload)
    assert label == "indicated"  # mean brightness 0.94 >= 0.5; a guess, never "confirmed"
    audit = _rows(case, "SELECT payload FROM audit_events WHERE action='scan_started'")
    assert str(model) in str(audit[-1][0])


def test_a_detector_model_that_cannot_load_is_one_clear_error(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    write_jpeg(evidence / "a.jpg", 1, width=64, height=64)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    case = tmp_path / "case"
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(case), "-q", "--detector-model", str(bad)]
    )
    assert result.exit_code == EXIT_MISUSE
    assert "bad.onnx" in result.output and not case.exists()
    result = CliRunner().invoke(
        main,
        [
            "scan",
            str(evidence),
            "--case",
            str(case),
            "--skip",
            "provenance",
            "--watermarks-in-jpeg",
        ],
    )
    assert result.exit_code == EXIT_MISUSE and "provenance" in result.output


@pytest.mark.parametrize(("score", "blurred"), [(0.97, True), (0.01, False)])
def test_face_crops_follow_the_blur_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, score: float, blurred: bool
) -> None:
    """A face crop of an image labelled anything but ``none`` is obscured like its thumbnail
    (security review: crops of explicit images were stored sharp)."""
    people = sorted(SHARED_LFW.glob("*/*.jpg"))[:3]
    if not people:
        pytest.skip("../shared/data/faces/lfw is absent")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for p in people:
        (evidence / p.name).write_bytes(p.read_bytes())
    _stand_in(monkeypatch, score)
    case = tmp_path / "case"
    _scan(evidence, case, "--skip", "provenance", "--no-links")
    crops = sorted((case / "faces").rglob("*.jpg"))
    assert len(crops) >= 3
    for crop in crops:
        # neighbouring-pixel difference: a pixelated and blurred crop has almost none
        assert (_detail(crop) < 5.0) is blurred, (crop, _detail(crop))  # measured: <3.2 vs >7
