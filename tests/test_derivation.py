"""Derivation linking: alignment and transform, change mask, face swap, no links between
unrelated pictures, blurred renders, the links JSON, and re-runs without duplicates.

Pictures are harmless: synthetic textures (tests/synthetic.py) and, for the face paste, face
photos from ../shared/data (skipped when absent). The explicit path uses the stand-in scorer.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main
from consentry.derivation import features as feat
from consentry.derivation.align import align, describe, file_matrix, invert
from consentry.derivation.change_mask import change_mask, iou

from .stand_ins import FixedScorer
from .synthetic import photo_like

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    image_analysis.reset_process()
    yield
    image_analysis.reset_process()


def _jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _source(seed: int = 3, width: int = 640, height: int = 480) -> np.ndarray:
    return np.asarray(photo_like(seed, width=width, height=height))


def _replace_region(rgb: np.ndarray, box: tuple[int, int, int, int], seed: int) -> np.ndarray:
    out = rgb.copy()
    x, y, w, h = box
    other = np.asarray(photo_like(seed, width=rgb.shape[1], height=rgb.shape[0]))
    out[y : y + h, x : x + w] = other[y : y + h, x : x + w]
    return out


def _derive(
    rgb: np.ndarray, crop: tuple[int, int, int, int], scale: float, mirror: bool
) -> np.ndarray:
    x, y, w, h = crop
    out = rgb[y : y + h, x : x + w]
    out = cv2.resize(out, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(out[:, ::-1] if mirror else out)


def _features(data: bytes, name: str) -> tuple[feat.ImageFeatures, np.ndarray]:
    picture = feat.work_picture(data, keep_native=True)
    return feat.image_features(name, picture), picture.rgb


def test_crop_mirror_resize_jpeg_copy_aligns_with_the_right_transform() -> None:
    source = _source()
    crop = (40, 30, 560, 420)  # 23.4 % of the area not shown... 1 - 560*420/(640*480)
    derived = _derive(source, crop, 0.7, mirror=True)
    fs, _ = _features(_jpeg(source, 95), "s")
    fd, _ = _features(_jpeg(derived, 80), "d")
    alignment = align(fd, fs)
    assert alignment is not None and alignment.mirrored
    t = describe(
        file_matrix(alignment.matrix, fd.work_scale, fs.work_scale),
        alignment.mirrored,
        (fd.width, fd.height),
        (fs.width, fs.height),
    )
    assert t.mirrored
    assert t.scale == pytest.approx(0.7, abs=0.03)
    assert abs(t.rotation_deg) < 1.5
    assert t.crop_fraction == pytest.approx(1 - 560 * 420 / (640 * 480), abs=0.03)
    for got, want in zip(t.crop, crop, strict=True):
        assert got == pytest.approx(want, abs=8)


def test_changed_region_mask_matches_the_truth() -> None:
    source = _source(5)
    box = (220, 200, 200, 180)
    edited = _replace_region(source, box, seed=77)
    truth = np.zeros(source.shape[:2], bool)
    truth[box[1] : box[1] + box[3], box[0] : box[0] + box[2]] = True
    crop = (20, 10, 600, 460)
    derived = _derive(edited, crop, 1.3, mirror=False)
    truth_d = _derive(truth.astype(np.uint8) * 255, crop, 1.3, mirror=False) > 127
    fs, pic_s = _features(_jpeg(source, 92), "s")
    fd, pic_d = _features(_jpeg(derived, 75), "d")
    alignment = align(fd, fs)
    assert alignment is not None and not alignment.mirrored
    mask = change_mask(pic_d, pic_s, invert(alignment.matrix))
    small = cv2.resize(truth_d.astype(np.uint8), mask.mask.shape[::-1], cv2.INTER_NEAREST) > 0
    assert iou(mask.mask, small) >= 0.7
    assert 0.05 < mask.changed_fraction < 0.3


def test_unrelated_pictures_do_not_align() -> None:
    fa, _ = _features(_jpeg(_source(11)), "a")
    others = [_features(_jpeg(_source(seed)), str(seed))[0] for seed in (12, 13, 14)]
    assert all(align(fa, other) is None for other in others)


# -- end to end: scan + links -------------------------------------------------------------------
def _scan(evidence: Path, case: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(case), "--workers", "1", "-q", *extra]
    )
    assert result.exit_code == 0, result.output


def _links(case: Path, *extra: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["links", "--case", str(case), "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _rows(case: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


@pytest.fixture()
def edited_case_evidence(tmp_path: Path) -> Path:
    """A source, a cropped + mirrored + resized JPEG copy with a region replaced, and three
    unrelated pictures."""
    root = tmp_path / "evidence"
    root.mkdir()
    source = _source(21)
    (root / "original.jpg").write_bytes(_jpeg(source, 95))
    edited = _replace_region(source, (250, 220, 220, 200), seed=90)
    (root / "edited_copy.jpg").write_bytes(_jpeg(_derive(edited, (30, 20, 590, 450), 0.8, True)))
    for seed in (31, 32, 33):
        (root / f"unrelated_{seed}.jpg").write_bytes(_jpeg(_source(seed)))
    return root


def test_links_json_has_the_link_and_only_it(edited_case_evidence: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    _scan(edited_case_evidence, case, "--skip", "faces,explicit")
    report = _links(case)
    links = report["links"]
    assert isinstance(links, list) and len(links) == 1
    link = links[0]
    for key in ("derived", "source", "transform", "changed_fraction", "face_swap", "confidence"):
        assert key in link
    assert link["derived"] == str(edited_case_evidence / "edited_copy.jpg")
    assert link["source"] == str(edited_case_evidence / "original.jpg")
    assert link["transform"]["mirrored"] is True
    assert link["transform"]["scale"] == pytest.approx(0.8, abs=0.04)
    assert 0.05 < link["changed_fraction"] < 0.4
    assert link["confidence"] > 0.9  # the copy is cropped: the field of view says so
    assert link["face_swap"] is None  # no faces analysed
    assert (case / link["render_dir"] / "mask.png").exists()


def test_rerunning_adds_no_duplicates(edited_case_evidence: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    _scan(edited_case_evidence, case, "--skip", "faces,explicit")
    tables = ("derivation_features", "derivation_pairs", "derivation_links")
    before = {t: _rows(case, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    _scan(edited_case_evidence, case, "--skip", "faces,explicit")
    _links(case)
    after = {t: _rows(case, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}
    assert before == after
    # a pass killed after the pair checks, before the links were written: the re-run finishes
    with sqlite3.connect(case / "case.sqlite") as db:
        db.execute("DELETE FROM derivation_links")
        db.execute("DELETE FROM case_info WHERE key = 'derivation.state'")
    assert len(_links(case)["links"]) == 1  # type: ignore[arg-type]
    assert (
        _rows(case, "SELECT * FROM derivation_links ORDER BY 1")[0][:10]
        == (after["derivation_links"][0][:10])
    )
    _links(case, "--rebuild")
    assert len(_rows(case, "SELECT * FROM derivation_links")) == 1


def _detail(path: Path) -> float:
    a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    return float(np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean())


@pytest.mark.parametrize("score", [0.97, 0.01])
def test_renders_are_blurred_when_explicit(
    score: float, edited_case_evidence: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(FixedScorer(score))
    )
    case = tmp_path / "case"
    _scan(edited_case_evidence, case, "--skip", "faces")
    link = _links(case)["links"][0]  # type: ignore[index]
    folder = case / link["render_dir"]
    details = {n: _detail(folder / f"{n}.png") for n in ("source", "derived", "mask")}
    if score > 0.5:  # labelled explicit: every rendered picture obscured
        assert all(d < 3.0 for d in details.values()), details
    else:  # labelled none: shown sharp
        assert details["source"] > 6.0 and details["derived"] > 6.0, details


def _face_photos() -> list[Path]:
    photos = sorted((DATA / "realfake" / "real").glob("*.jpg"))
    if len(photos) < 2:
        pytest.skip(f"face photos not found in {DATA / 'realfake' / 'real'} (../shared/data)")
    return photos


def test_face_pasted_from_another_person_is_a_face_swap(tmp_path: Path) -> None:
    from consentry.analyzers.faces import FaceAnalyzer

    photos = _face_photos()
    analyzer = FaceAnalyzer()
    pictures = []
    for path in photos[:8]:
        rgb = np.asarray(Image.open(path).convert("RGB").resize((512, 512)))
        faces = analyzer.analyze(rgb).faces
        if faces:
            pictures.append((path, rgb, max(faces, key=lambda f: f.box[2] * f.box[3]).box))
        if len(pictures) == 2:
            break
    if len(pictures) < 2:
        pytest.skip("no two face photos with a detectable face")
    (_, target, box), (_, donor, dbox) = pictures
    x, y, w, h = (int(v) for v in box)
    dx, dy, dw, dh = (int(v) for v in dbox)
    patch = cv2.resize(donor[dy : dy + dh, dx : dx + dw], (w, h))
    patch_mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(patch_mask, (w // 2, h // 2), (w // 2 - 2, h // 2 - 2), 0, 0, 360, 255, -1)
    swapped = cv2.seamlessClone(
        patch[..., ::-1].copy(),
        np.ascontiguousarray(target[..., ::-1]),
        patch_mask,
        (x + w // 2, y + h // 2),
        cv2.NORMAL_CLONE,
    )[..., ::-1]
    root = tmp_path / "evidence"
    root.mkdir()
    (root / "photo.jpg").write_bytes(_jpeg(target, 95))
    derived = _derive(np.ascontiguousarray(swapped), (20, 10, 470, 490), 0.9, mirror=False)
    (root / "swapped.jpg").write_bytes(_jpeg(derived, 85))
    case = tmp_path / "case"
    _scan(root, case, "--skip", "explicit")
    links = _links(case)["links"]
    assert isinstance(links, list) and len(links) == 1
    link = links[0]
    assert link["derived"].endswith("swapped.jpg") and link["source"].endswith("photo.jpg")
    assert link["face_swap"] is True, link["face"]


def test_direction_cues_say_which_is_the_original() -> None:
    from consentry.derivation.direction import decide, field_of_view_cue, resolution_cue

    # A shows 85 % of B, B shows all of A: A is a crop, B the source
    crop = field_of_view_cue(0.85, 1.0)
    assert crop is not None and crop.score < -3
    # an upscaled copy has no detail beyond its source's resolution; a camera original does
    # (sensor grain included: the cue needs strong detail, see direction.DETAILED_FALLOFF)
    grain = np.random.default_rng(0).normal(0, 6, (450, 600, 1))
    original = np.clip(_source(9, 600, 450) + grain, 0, 255).astype(np.uint8)
    upscaled = cv2.resize(original, (1200, 900), interpolation=cv2.INTER_CUBIC)
    p_original = feat.resolution_profile(cv2.cvtColor(original, cv2.COLOR_RGB2GRAY))
    p_upscaled = feat.resolution_profile(cv2.cvtColor(upscaled, cv2.COLOR_RGB2GRAY))
    # an upscaled copy has no detail beyond its source's resolution: that proves nothing (a
    # soft original reduced looks the same), so the cue stays silent
    assert resolution_cue(2.0, p_upscaled, p_original) is None
    reduced = cv2.resize(original, (300, 225), interpolation=cv2.INTER_AREA)
    p_reduced = feat.resolution_profile(cv2.cvtColor(reduced, cv2.COLOR_RGB2GRAY))
    down = resolution_cue(2.0, p_original, p_reduced)  # A = the original, 2x larger
    assert down is not None and down.score > 0, down
    assert decide([crop, None]).confidence > 0.95
    assert decide([]).confidence == 0.5


# -- families, fixed-camera series, face swaps in the shortlist --------------------------------
def test_edits_of_one_photo_each_link_to_the_photo_not_to_each_other(tmp_path: Path) -> None:
    """Three edits of one region (two nearly alike, so closer to each other than to the
    original): each is linked to the original, which nothing is linked to."""
    root = tmp_path / "evidence"
    root.mkdir()
    source = _source(41)
    (root / "original.jpg").write_bytes(_jpeg(source, 95))
    box = (240, 230, 200, 170)
    crops = {"edit_a": (10, 10, 620, 460), "edit_b": (25, 5, 600, 470), "edit_c": (0, 20, 610, 455)}
    for name, seed in (("edit_a", 90), ("edit_b", 90), ("edit_c", 91)):
        edited = _replace_region(source, box, seed=seed)  # a and b: the same new texture
        (root / f"{name}.jpg").write_bytes(_jpeg(_derive(edited, crops[name], 0.9, False), 80))
    case = tmp_path / "case"
    _scan(root, case, "--skip", "faces,explicit")
    links = _links(case)["links"]
    assert isinstance(links, list)
    pairs = {Path(x["derived"]).name: Path(x["source"]).name for x in links}
    assert pairs == {f"{n}.jpg": "original.jpg" for n in crops}, pairs


def test_another_shot_from_a_fixed_camera_is_not_an_edit() -> None:
    """The same scene under another light, with small differences everywhere (a sitter who
    moved a little), aligns perfectly but is not a derived picture: its changes are scattered."""
    from consentry.derivation import verify as lp

    source = _source(51)
    rng = np.random.default_rng(5)
    other = source.astype(np.float32)
    height, width = other.shape[:2]
    other *= np.linspace(0.95, 1.03, width, dtype=np.float32)[None, :, None]  # light from a side
    for _ in range(24):  # small differences all over the picture (a sitter who moved)
        x, y = int(rng.integers(0, width - 32)), int(rng.integers(0, height - 32))
        u, v = int(rng.integers(0, width - 32)), int(rng.integers(0, height - 32))
        other[y : y + 32, x : x + 32] = source[v : v + 32, u : u + 32]
    second = np.clip(other, 0, 255).astype(np.uint8)
    fa, _ = _features(_jpeg(source, 92), "a" * 64)
    fb, _ = _features(_jpeg(second, 92), "b" * 64)

    class Pictures:
        def get(self, sha: str) -> np.ndarray:
            data = _jpeg(source, 92) if sha == "a" * 64 else _jpeg(second, 92)
            return feat.work_picture(data).rgb

    record = lp.verify_pair(fa, fb, Pictures())  # type: ignore[arg-type]
    body = json.loads(record.payload)
    assert body["aligned"], body
    assert len(body["boxes_a"]) >= lp.SCATTERED_REGIONS, body
    assert body["largest_region_share"] < lp.SCATTERED_LARGEST, body
    assert not record.related
    # the control: one region replaced, the rest untouched -> related
    edited = _replace_region(source, (240, 230, 200, 170), seed=7)
    fc, _ = _features(_jpeg(edited, 92), "b" * 64)

    class Edited:
        def get(self, sha: str) -> np.ndarray:
            return feat.work_picture(_jpeg(source if sha == "a" * 64 else edited, 92)).rgb

    assert lp.verify_pair(fa, fc, Edited()).related  # type: ignore[arg-type]


def test_face_free_round_finds_the_source_of_a_face_swap() -> None:
    """A face swap's strongest features are its new face, which votes for the donor's pictures;
    only the features outside the face lead back to its source."""
    from consentry.derivation.candidates import SHORTLIST, shortlist

    rng = np.random.default_rng(3)

    def codes(n: int) -> np.ndarray:
        return rng.integers(0, 256, (n, 32), dtype=np.uint8)

    face_box = (100.0, 100.0, 200.0, 200.0)
    face_pts = rng.uniform(120, 280, (160, 2)).astype(np.float32)  # inside the face
    back_pts = np.concatenate([rng.uniform(0, 60, (40, 1)), rng.uniform(0, 500, (40, 1))], 1)
    back_pts = back_pts.astype(np.float32)  # a strip at the left: outside the face

    def picture(sha: str, face: np.ndarray, back: np.ndarray) -> feat.ImageFeatures:
        points = np.concatenate([face_pts, back_pts])  # face first: the strongest
        descriptors = np.concatenate([face, back])
        return feat.ImageFeatures(sha, 512, 512, 1.0, points, descriptors,
                                  points[:0], descriptors[:0], None)  # fmt: skip

    own_face, donor_face, background = codes(160), codes(160), codes(40)
    source = picture("s" * 64, own_face, background)
    swapped = picture("d" * 64, donor_face, background)  # the source with the donor's face
    crowd = [picture(f"{i:064d}", donor_face, codes(40)) for i in range(SHORTLIST + 1)]
    crowd += [picture(f"{i + 50:064d}", own_face, codes(40)) for i in range(SHORTLIST + 1)]
    features = [source, swapped, *crowd]
    wanted = (0, 1)
    assert wanted not in shortlist(features)  # the faces outvote the background
    faces = {f.sha256: [face_box] for f in features}
    assert wanted in shortlist(features, faces)


def test_scan_without_links_leaves_the_pass_for_later(
    edited_case_evidence: Path, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    _scan(edited_case_evidence, case, "--skip", "faces,explicit", "--no-links")
    assert _rows(case, "SELECT COUNT(*) FROM derivation_links") == [(0,)]
    assert _rows(case, "SELECT COUNT(*) FROM derivation_features") == [(0,)]
    assert len(_links(case)["links"]) == 1  # type: ignore[arg-type]


def test_resolution_profile_is_measured_only_where_it_can_decide(tmp_path: Path) -> None:
    """The full-resolution decode behind the resolution cue costs ~10x the features' one: only
    the larger picture of a related pair of different sizes gets it, and only when the other
    cues leave the direction open (a crop already says which is the original)."""
    root = tmp_path / "evidence"
    root.mkdir()
    first, second = _source(21), _source(62)
    (root / "first.jpg").write_bytes(_jpeg(first, 95))
    (root / "second.jpg").write_bytes(_jpeg(second, 95))
    box = (250, 220, 220, 200)
    cropped = _derive(_replace_region(first, box, 90), (30, 20, 590, 450), 0.8, mirror=False)
    (root / "first_cropped.jpg").write_bytes(_jpeg(cropped, 85))
    whole = _derive(_replace_region(second, box, 91), (0, 0, 640, 480), 0.8, mirror=False)
    (root / "second_reduced.jpg").write_bytes(_jpeg(whole, 85))
    case = tmp_path / "case"
    _scan(root, case, "--skip", "faces,explicit")
    assert len(_links(case)["links"]) == 2  # type: ignore[arg-type]
    rows = _rows(
        case,
        "SELECT l.path, f.profile IS NOT NULL FROM derivation_features f "
        "JOIN locations l ON l.sha256 = f.sha256 ORDER BY l.path",
    )
    measured = {Path(str(path)).name: bool(flag) for path, flag in rows}
    assert measured == {
        "first.jpg": False,  # its copy is cropped: the field of view decides
        "first_cropped.jpg": False,
        "second.jpg": True,  # its copy shows all of it, only smaller: detail may decide
        "second_reduced.jpg": False,  # the smaller one is never asked
    }


def test_generator_provenance_says_which_picture_was_made_from_which(tmp_path: Path) -> None:
    """A copy neither cropped nor carrying camera data has no geometric direction evidence; a
    generator's metadata in one picture only says that one is the derived picture."""
    from PIL import PngImagePlugin

    from consentry.derivation.direction import generator_cue

    assert generator_cue("indicated", "no_signal").score < 0  # type: ignore[union-attr]
    assert generator_cue("no_signal", "confirmed").score > 0  # type: ignore[union-attr]
    assert generator_cue("indicated", "confirmed") is None
    assert generator_cue(None, "no_signal") is None

    root = tmp_path / "evidence"
    root.mkdir()
    photo = _source(71)
    (root / "photo.jpg").write_bytes(_jpeg(photo, 92))
    edited = _replace_region(photo, (250, 220, 220, 200), seed=12)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a person on a beach\nSteps: 20, Sampler: Euler a, Seed: 1")
    Image.fromarray(edited).save(root / "00001-1.png", pnginfo=info)  # same size, no crop
    case = tmp_path / "case"
    _scan(root, case, "--skip", "faces,explicit")
    links = _links(case)["links"]
    assert isinstance(links, list) and len(links) == 1
    link = links[0]
    assert Path(link["derived"]).name == "00001-1.png", link
    assert Path(link["source"]).name == "photo.jpg"
    assert link["confidence"] > 0.6


def test_a_link_names_the_other_equally_possible_originals(tmp_path: Path) -> None:
    """A photo and an uncropped, same-size edit of it carry no direction evidence between
    them; a third picture made from the photo (its edit covering the twin's) matches both as
    well. Its link names one and lists the other as equally possible, rather than hiding the
    doubt."""
    root = tmp_path / "evidence"
    root.mkdir()
    photo = _source(81)
    (root / "photo.jpg").write_bytes(_jpeg(photo, 92))
    twin = _replace_region(photo, (280, 250, 100, 80), seed=8)  # inside the other edit
    (root / "twin.jpg").write_bytes(_jpeg(twin, 92))
    made = _derive(_replace_region(photo, (250, 220, 220, 200), 9), (30, 20, 590, 450), 0.9, False)
    (root / "made.jpg").write_bytes(_jpeg(made, 85))
    case = tmp_path / "case"
    _scan(root, case, "--skip", "faces,explicit")
    links = {Path(x["derived"]).name: x for x in _links(case)["links"]}  # type: ignore[union-attr]
    link = links["made.jpg"]
    named = Path(link["source"]).name
    others = [Path(o["path"]).name for o in link["other_possible_sources"]]
    assert {named, *others} == {"photo.jpg", "twin.jpg"}, (named, others)
    assert len(others) == 1


def test_profile_of_a_changed_or_undecodable_file_is_recorded_as_unmeasurable(
    tmp_path: Path,
) -> None:
    """The resolution profile is read from the evidence late in the pass: a file that changed
    since the scan, or no longer decodes, gives no resolution cue and stops nothing."""
    import hashlib

    from consentry.derivation import link_pass as lp
    from consentry.records.locations import LocationRef
    from consentry.store.links_store import ImageRef

    good = _jpeg(_source(91), 90)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(good)
    sha = hashlib.sha256(good).hexdigest()
    ref = ImageRef(sha, LocationRef(bytes(photo)), str(photo))
    _, profile, scale = lp._profile_of(ref)
    assert profile.any() and scale > 0  # measured

    photo.write_bytes(good[:-10] + b"0123456789")  # changed after the scan
    _, profile, scale = lp._profile_of(ref)
    assert not profile.any() and scale == 0.0
    broken = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # hashes as recorded, decodes as nothing
    photo.write_bytes(broken)
    ref = ImageRef(hashlib.sha256(broken).hexdigest(), LocationRef(bytes(photo)), str(photo))
    _, profile, scale = lp._profile_of(ref)
    assert not profile.any() and scale == 0.0
