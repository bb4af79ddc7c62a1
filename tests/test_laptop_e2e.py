"""Issue 16 end to end ("Done when"): an E01 of a laptop disk (MBR: p1 FAT16, p2 NTFS with a
copy of the photo when mkntfs/ntfscp are installed, else a bare FAT16 file system) whose FAT
volume holds a harmless source photo, a downloaded "fake" made from it, a deleted picture and
a Chrome profile whose History has a visit to a listed service and a download whose target
path is the fake. Scanned with
`consentry scan laptop.E01 --case C` and reported with `consentry report`: the JSON and HTML
reports show the E01's verification, the deleted file, the traces (observed) with the derivation
link to the source photo, the inferences, and the person's timeline.

The source photo is a face of ../shared/data/faces/lfw (skipped when absent); the fake is made
as the demo's edits are (scripts/build_demo_evidence.py): the photo with its lower part painted
over by a plain texture, then cropped, resized and re-encoded. The explicit-content analyzer is
a marker stand-in as in test_reports_core (the fake carries the marker, so it is labelled
explicit and its thumbnail must be blurred): nothing explicit is ever made or used.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.analyzers import runner as image_analysis
from consentry.analyzers.explicit import ExplicitAnalyzer
from consentry.cli.main import main

from .browser_profiles import Download, Visit, chrome_profile, windows_path
from .disk_images import e01_image, fat_image, jpeg, need, ntfs_image, partitioned_image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PERSON = "Tony_Blair"
CHROME = "Users/x/AppData/Local/Google/Chrome/User Data/Default/History"
MARKER = (255, 0, 255)


class MarkerScorer:
    """Stand-in Open-NSFW scorer (as test_reports_core's): 0.97 for a picture with the magenta
    marker top-left, else 0.01. The seam is ``analyzers.explicit.load_explicit``."""

    model_sha256 = "1" * 64

    def score(self, rgb: np.ndarray) -> float:
        h, w = rgb.shape[:2]
        patch = rgb[: max(1, h // 40), : max(1, w // 40)].reshape(-1, 3).astype(int)
        close = np.abs(patch - np.array(MARKER)).max(axis=1) < 60
        return 0.97 if close.mean() > 0.8 else 0.01


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_fake(photo: np.ndarray) -> np.ndarray:
    """The demo's region edit (build_demo_evidence._write_derived): the lower middle painted
    over with a plain texture, a crop, 4/5 of the size; then the stand-in's explicit marker."""
    import cv2

    h, w = photo.shape[:2]
    edited = photo.copy()
    y0, y1, x0, x1 = h * 13 // 20, h * 19 // 20, w * 3 // 10, w * 7 // 10
    rng = np.random.default_rng(5)
    texture = np.clip(rng.normal(0, 18, (y1 - y0, x1 - x0, 3)) + (120, 160, 200), 0, 255)
    edited[y0:y1, x0:x1] = cv2.GaussianBlur(texture.astype(np.uint8), (0, 0), 2)
    edited = edited[h // 20 : h - h // 20, w // 16 : w - w // 40]
    edited = cv2.resize(edited, (edited.shape[1] * 4 // 5, edited.shape[0] * 4 // 5),
                        interpolation=cv2.INTER_AREA)  # fmt: skip
    side = max(edited.shape[:2]) // 8
    edited[:side, :side] = MARKER
    return np.ascontiguousarray(edited)


def ok(*args: str | Path) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    need("mkfs.vfat", "mmd", "mcopy", "mdel", "ewfacquire")
    photos = sorted((DATA / "faces" / "lfw" / PERSON).glob("*.jpg"))
    if len(photos) < 2:
        pytest.skip(f"the LFW photos of {DATA / 'faces' / 'lfw'} (../shared/data) are absent")
    import cv2

    root = tmp_path_factory.mktemp("laptop")
    rgb = np.asarray(Image.open(photos[0]).convert("RGB"))
    rgb = cv2.resize(rgb, (500, 500), interpolation=cv2.INTER_CUBIC)
    source, fake = _jpeg(rgb, 95), _jpeg(make_fake(rgb), 82)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    history = chrome_profile(
        root / "profile",
        user="x",
        visits=[Visit("https://clothoff.io/", now + dt.timedelta(minutes=1), "Clothoff")],
        downloads=[
            Download(
                "https://clothoff.io/result/5811.jpg",
                windows_path("x", "Downloads", "beach_fake.jpg"),
                now + dt.timedelta(minutes=2),
                size=len(fake),
                tab_url="https://clothoff.io/",
            )
        ],
    )
    raw = fat_image(
        root / "laptop.raw",
        {
            "Users/x/Pictures/beach.jpg": source,
            "Users/x/Downloads/beach_fake.jpg": fake,
            "Users/x/Pictures/old_picture.jpg": jpeg(31, 320, 240),
            CHROME: history.read_bytes(),
        },
        delete=["Users/x/Pictures/old_picture.jpg"],
    )
    if shutil.which("mkntfs") and shutil.which("ntfscp"):
        # a second partition, NTFS, holding a copy of the photo: p1 FAT16, p2 NTFS
        fat = raw.rename(root / "fat.raw")
        ntfs = ntfs_image(root / "ntfs.raw", {"beach_copy.jpg": source})
        raw = partitioned_image(root / "laptop.raw", [(fat, 0x06), (ntfs, 0x07)])
        fat.unlink()
        ntfs.unlink()
    (image,) = e01_image(raw, root / "laptop")
    raw.unlink()  # only the E01 is evidence
    refs = root / "refs"
    refs.mkdir()
    shutil.copyfile(photos[1], refs / "reference.jpg")
    (refs / "consent.json").write_text(json.dumps({
        "consented_by": "Tony Blair", "consented_at": "2026-11-02",
        "scope": "search this case for images of me", "recorded_by": "Test Advocate"}))  # fmt: skip
    image_analysis.reset_process()
    mp = pytest.MonkeyPatch()
    mp.setattr(
        "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(MarkerScorer())
    )
    mp.delenv("CONSENTRY_KEY", raising=False)
    case = root / "case"
    try:
        ok("scan", image, "--case", case, "--workers", "1", "-q", "--skip", "provenance")
        ok("person", "add", "--case", case, "--name", "Tony Blair",
           "--consent", refs / "consent.json", refs / "reference.jpg")  # fmt: skip
    finally:
        mp.undo()
        image_analysis.reset_process()
    yield image, case


def test_laptop_image_report_shows_verification_deleted_file_traces_and_timeline(
    laptop: tuple[Path, Path], tmp_path: Path
) -> None:
    image, case = laptop
    before = image.read_bytes()
    out = tmp_path / "report.json"
    ok("report", "--case", case, "--format", "json", "--out", out, "--force")
    doc = json.loads(out.read_text())

    (disk,) = doc["disk_images"]
    assert disk["format"] == "ewf" and disk["verification"] == "verified", disk
    assert disk["stored_md5"] == disk["computed_md5"] and disk["stored_md5"]
    systems = [(v["name"], (v["filesystem"] or "").upper()[:4]) for v in disk["volumes"]]
    if shutil.which("mkntfs") and shutil.which("ntfscp"):
        assert systems == [("p1", "FAT1"), ("p2", "NTFS")], systems
        copy = [i for i in doc["items"] if i["location"].endswith("!p2/beach_copy.jpg")]
        assert copy and copy[0]["sha256"] == source_sha256(doc)
    else:  # a bare file system
        assert systems == [("p0", "FAT1")], systems

    (gone,) = [d for d in doc["deleted_files"] if d["location"].endswith("old_picture.jpg")]
    assert gone["recovery"] in ("recovered", "partial") and gone["mtime"]
    flagged = [i for i in doc["items"] if i["location"].endswith("old_picture.jpg")]
    assert flagged and flagged[0]["deleted"] is True

    visits = [t for t in doc["traces"] if t["kind"] == "visit"]
    downloads = [t for t in doc["traces"] if t["kind"] == "download"]
    assert [t["service_id"] for t in visits] == ["clothoff"]
    (download,) = downloads
    assert download["in_case"] and download["file"].endswith("Users/x/Downloads/beach_fake.jpg")
    assert download["derived_from"] and download["derived_from"].endswith("Pictures/beach.jpg")
    statements = " ".join(i["statement"] for i in doc["inferences"])
    assert "beach_fake.jpg" in statements and "made from the photo" in statements

    (timeline,) = [t for t in doc["timelines"] if t["person"] == "E1"]
    steps = {s["step"]: s for s in timeline["steps"]}
    assert {"service_visited", "fake_downloaded"} <= set(steps), steps
    assert steps["service_visited"]["observed"] is True

    html_out = tmp_path / "report.html"
    ok("report", "--case", case, "--format", "html", "--out", html_out, "--force")
    html = html_out.read_text()
    for text in ("Disk images", "Deleted files", "Traces of creation", "Timeline of E1",
                 "old_picture.jpg", "Clothoff", "verified", disk["computed_md5"]):  # fmt: skip
        assert text in html, text
    observed = html[html.index('id="traces-observed"') : html.index('id="traces-inferred"')]
    assert "beach_fake.jpg" in observed and "made from" in observed
    # the fake is labelled explicit by the stand-in: shown only blurred
    (fake,) = [i for i in doc["items"] if i["location"].endswith("beach_fake.jpg")]
    assert fake["explicit_label"] == "explicit" and fake["thumbnail_blurred"] is True
    # the evidence was only read
    assert image.read_bytes() == before


def source_sha256(doc: dict) -> str:  # type: ignore[type-arg]
    (photo,) = [i for i in doc["items"] if i["location"].endswith("Users/x/Pictures/beach.jpg")]
    return str(photo["sha256"])


def test_person_scoped_report_shows_only_what_is_joined_to_the_person(
    laptop: tuple[Path, Path], tmp_path: Path
) -> None:
    _, case = laptop
    out = tmp_path / "e1.json"
    ok("report", "--case", case, "--person", "E1", "--format", "json", "--out", out, "--force")
    text = out.read_text()
    doc = json.loads(text)
    assert [t["person"] for t in doc.get("timelines", [])] == ["E1"]
    # the deleted picture shows no one: not in E1's report
    assert "old_picture" not in text and not doc.get("deleted_files")
    # every download listed is of one of E1's files; file and folder names are neutral
    shas = {i["sha256"] for i in doc["items"]}
    downloads = [t for t in doc["traces"] if t["kind"] == "download"]
    assert downloads and all(t["file_sha256"] in shas for t in downloads)
    assert "beach_fake" not in text and "Downloads" not in text and "[file " in text
