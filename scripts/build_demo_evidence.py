"""Build the harmless demo evidence folder from the `openpeople` package (MIT, synthetic people).

Arranged like the case behind consentry: one folder per (fictional) person, a few images misfiled,
a duplicate, a phone backup zip with a nested zip, a HEIC photo, a corrupt file and a note.
Nothing explicit, nothing real: every face is synthetic. Usage:

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
    print(f"demo evidence: {sum(1 for _ in target.rglob('*') if _.is_file())} files in {target}")
    print(f"reference photos + consent records of {ENROLLED} persons in {references}")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo/evidence"))
