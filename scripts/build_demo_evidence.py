"""Build the harmless demo evidence folder from the `openpeople` package (MIT, synthetic people).

Arranged like the case behind consentry: one folder per (fictional) person, a few images misfiled,
a duplicate, a phone backup zip with a nested zip, a HEIC photo, a corrupt file, a note, edited
copies of some photos (region replaced, face pasted) and two PNGs carrying an image generator's
metadata (AUTOMATIC1111, ComfyUI; mundane prompts). Nothing explicit, nothing real: every face
is synthetic. Usage:

    python scripts/build_demo_evidence.py demo/evidence
"""

from __future__ import annotations

import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_generated import add_generated_images  # noqa: E402

# Fictional names for the synthetic persons: folder names like the ones in the real case.
NAMES = [
    "Avery Lane",
    "Blake Moreno",
    "Casey Ito",
    "Devon Price",
    "Emery Stone",
    "Finley Shaw",
    "Harper Quinn",
    "Jordan Vale",
    "Kai Brooks",
    "Rowan Ellis",
]


ENROLLED = 3  # the first persons enroll themselves, with a consent record


def _write_reference(references: Path, name: str, photo: Path) -> None:
    slug = name.replace(" ", "_")
    shutil.copy2(photo, references / f"{slug}.jpg")
    consent = {
        "consented_by": name,
        "consented_at": "2026-11-02",
        "scope": "search the demo case for images of me; produce a hash pack",
        "recorded_by": "Demo Advocate",
        "method": "signed form (fictional demo record)",
    }
    (references / f"{slug}.consent.json").write_text(json.dumps(consent, indent=2) + "\n")


def build(target: Path) -> None:
    try:
        from openpeople.io import get_curated_dir
    except ImportError:
        sys.exit("the demo needs the `openpeople` package: pip install -e '.[demo]'")
    references = target.parent / "references"
    for folder in (target, references):
        if folder.exists():
            shutil.rmtree(folder)
    references.mkdir(parents=True)
    people = sorted(p for p in Path(get_curated_dir()).iterdir() if (p / "assets").is_dir())
    for index, person in enumerate(people):
        name = NAMES[index % len(NAMES)]
        folder = target / name.replace(" ", "_")
        folder.mkdir(parents=True)
        for photo in sorted((person / "assets").glob("*.jpg")):
            if photo.stem in ("character_sheet", "emotions_sheet"):
                continue
            if index < ENROLLED and photo.stem == "studio_portrait":
                # a reference photo the (fictional) person gives with consent: not evidence
                _write_reference(references, name, photo)
                continue
            shutil.copy2(photo, folder / f"{person.name}_{photo.name}")
    folders = sorted(p for p in target.iterdir() if p.is_dir())
    # misfiled: a photo of person 2 in person 1's folder, as found in real seizures
    misfiled = sorted(folders[2].glob("*.jpg"))[0]
    shutil.move(misfiled, folders[1] / misfiled.name)
    # an exact duplicate under another name
    first = sorted(folders[0].glob("*.jpg"))[0]
    shutil.copy2(first, target / "download (1).jpg")
    # a phone backup: zip holding photos and a nested zip
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for photo in sorted(folders[3].glob("*.jpg"))[:2]:
            z.write(photo, f"DCIM/{photo.name}")
    with zipfile.ZipFile(target / "phone_backup.zip", "w") as z:
        for photo in sorted(folders[4].glob("*.jpg"))[:3]:
            z.write(photo, f"Camera/{photo.name}")
        z.writestr("old_backup.zip", inner.getvalue())
    # a HEIC photo, as phones save them
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(sorted(folders[5].glob("*.jpg"))[0]) as im:
        im.convert("RGB").resize((im.width // 2, im.height // 2)).save(
            target / "IMG_0042.HEIC", format="HEIF", quality=80
        )
    # a truncated download and an examiner's note
    data = sorted(folders[6].glob("*.jpg"))[0].read_bytes()
    (target / "partial_download.jpg").write_bytes(data[: len(data) // 3])
    (target / "README-from-suspect.txt").write_text("list of folders\n", encoding="utf-8")
    _write_derived(target / "Downloads" / "edited", folders)
    # files an image generator saved, with its prompt/seed/model metadata (harmless prompts)
    add_generated_images(sorted(folders[7].glob("*.jpg"))[0], target / "Downloads" / "ai")
    print(f"demo evidence: {sum(1 for _ in target.rglob('*') if _.is_file())} files in {target}")
    print(f"reference photos + consent records of {ENROLLED} persons in {references}")


def _write_derived(folder: Path, folders: list[Path]) -> None:
    """Harmless edited copies, as a nudify or face-swap app would leave them next to the source
    photos: a region replaced (here by a plain texture), and a face pasted from another
    (fictional) person; both cropped, resized, mirrored and re-encoded. ``consentry links``
    should link each to its source."""
    import cv2
    import numpy as np

    from consentry.analyzers.faces import FaceAnalyzer

    folder.mkdir(parents=True, exist_ok=True)
    analyzer = FaceAnalyzer()

    def load(path: Path) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))

    def finish(rgb: np.ndarray, name: str, mirror: bool) -> None:
        h, w = rgb.shape[:2]
        rgb = rgb[h // 20 : h - h // 20, w // 16 : w - w // 40]  # a crop
        rgb = cv2.resize(rgb, (rgb.shape[1] * 4 // 5, rgb.shape[0] * 4 // 5), cv2.INTER_AREA)
        if mirror:
            rgb = rgb[:, ::-1]
        Image.fromarray(np.ascontiguousarray(rgb)).save(folder / name, "JPEG", quality=82)

    # a region replaced: the lower middle of a photo painted over with a plain texture
    source = load(sorted(folders[7].glob("*.jpg"))[0])
    h, w = source.shape[:2]
    edited = source.copy()
    y0, y1, x0, x1 = h * 11 // 20, h * 19 // 20, w * 3 // 10, w * 7 // 10
    rng = np.random.default_rng(5)
    texture = np.clip(rng.normal(0, 18, (y1 - y0, x1 - x0, 3)) + (120, 160, 200), 0, 255)
    edited[y0:y1, x0:x1] = cv2.GaussianBlur(texture.astype(np.uint8), (0, 0), 2)
    finish(edited, "edit_0001.jpg", mirror=True)

    # a face pasted from another person (aligned, then blended in as face-swap tools do)
    def largest_face(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        faces = analyzer.analyze(rgb).faces
        if not faces:
            return None
        face = max(faces, key=lambda f: f.box[2] * f.box[3])
        x, y, fw, fh = (int(v) for v in face.box)
        return (x, y, fw, fh), np.array(face.landmarks, dtype=np.float32)

    def selfie(person: Path) -> Path:
        photos = sorted(person.glob("*.jpg"))
        return next((p for p in photos if "selfie" in p.name), photos[0])

    def embedding(rgb: np.ndarray) -> np.ndarray | None:
        faces = [f for f in analyzer.analyze(rgb).faces if f.embedding is not None]
        return max(faces, key=lambda f: f.box[2] * f.box[3]).embedding if faces else None

    target = load(selfie(folders[8]))
    # the donor: the demo person who looks least like the target to the face model (several
    # synthetic persons look alike to it; a swap between look-alikes would prove nothing)
    target_emb = embedding(target)
    others = [load(selfie(f)) for i, f in enumerate(folders) if i != 8]
    scored = [(float(np.dot(e, target_emb)), i) for i, o in enumerate(others)
              if target_emb is not None and (e := embedding(o)) is not None]  # fmt: skip
    donor = others[min(scored)[1]] if scored else load(selfie(folders[9]))
    found, donor_found = largest_face(target), largest_face(donor)
    if found is None or donor_found is None:
        print("demo: no face found for the face-paste example; skipped")
        return
    (x, y, fw, fh), marks = found
    _, donor_marks = donor_found
    # bring the donor's face onto the target's (eyes, nose, mouth on the same points), as
    # face-swap tools do, then blend it in with a feathered mask (as their paste-back does).
    # Every step is made reproducible across library versions: the landmarks are rounded to
    # whole pixels and the matrix to 1/10000 (a newer face model moves them by a fraction of a
    # pixel), and the blend is integer arithmetic (OpenCV's seamlessClone solver gave other
    # pixels in another release, and the demo's fingerprint follows every pixel).
    matrix, _ = cv2.estimateAffinePartial2D(np.round(donor_marks), np.round(marks))
    matrix = np.round(matrix, 4)
    h, w = target.shape[:2]
    moved = cv2.warpAffine(donor, matrix, (w, h), flags=cv2.INTER_LINEAR)
    mask = np.zeros((h, w), np.uint8)
    centre = (x + fw // 2, y + fh // 2)
    cv2.ellipse(mask, centre, (int(fw * 0.42), int(fh * 0.5)), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask, (0, 0), max(2.0, fw / 25)).astype(np.int32)[..., None]
    swapped = (
        (moved.astype(np.int32) * alpha + target.astype(np.int32) * (255 - alpha) + 127) // 255
    ).astype(np.uint8)
    finish(np.ascontiguousarray(swapped), "faceswap_0001.jpg", mirror=False)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo/evidence"))
