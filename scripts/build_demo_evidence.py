"""Build the harmless demo evidence folder from the `openpeople` package (MIT, synthetic people).

Arranged like the case behind consentry: one folder per (fictional) person, a few images misfiled,
a duplicate, a phone backup zip with a nested zip, a HEIC photo, a corrupt file and a note.
Nothing explicit, nothing real: every face is synthetic. Usage:

    python scripts/build_demo_evidence.py demo/evidence
"""

from __future__ import annotations

import io
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


def build(target: Path) -> None:
    try:
        from openpeople.io import get_curated_dir
    except ImportError:
        sys.exit("the demo needs the `openpeople` package: pip install -e '.[demo]'")
    if target.exists():
        shutil.rmtree(target)
    people = sorted(p for p in Path(get_curated_dir()).iterdir() if (p / "assets").is_dir())
    for index, person in enumerate(people):
        folder = target / NAMES[index % len(NAMES)].replace(" ", "_")
        folder.mkdir(parents=True)
        for photo in sorted((person / "assets").glob("*.jpg")):
            if photo.stem in ("character_sheet", "emotions_sheet"):
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


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo/evidence"))
