"""A generated hostile corpus, scanned end to end by the real command.

Every format the installed Pillow (and pillow-heif) can write is written, then truncated at several
points, has header fields corrupted and is renamed (to ``.jpg``, and to a name saying nothing);
JPEG XL and SVG files, which are recognised but not decoded, are added. ``consentry scan
--workers 2`` must then exit 0 without a traceback, leave nothing pending, leave every source
byte-identical, and record each file that is (or claims to be) an image either as an analysed
image or with a problem code. No worker may die or hang, and no exception may reach the
worker's catch-all (``internal_error``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import consentry.media.decode  # noqa: F401 - registers the HEIF/AVIF writers of pillow-heif
from consentry.media.sniff import HEAD_BYTES, decode_by_name, sniff
from consentry.records.problems import SEVERITY, Code, Severity

pytestmark = pytest.mark.slow

RunCli = Callable[..., subprocess.CompletedProcess[str]]
SCAN_TIMEOUT_S = 150

Image.init()
# Pillow writes these, but they are documents, or formats it cannot read back (PALM), or stubs
# that need a handler (BUFR, GRIB, HDF5, WMF); EPS needs Ghostscript to be read.
NOT_PICTURES = {"PDF", "EPS", "PALM", "BUFR", "GRIB", "HDF5", "WMF"}
NEVER = {Code.INTERNAL_ERROR.value, Code.WORKER_LOST.value, Code.ITEM_TIMEOUT.value}
EXTENSIONS: dict[str, list[str]] = {"SPIDER": [".spi"], "HEIF": [".heic"]}
for _ext, _fmt in sorted(Image.EXTENSION.items()):
    EXTENSIONS.setdefault(_fmt, []).append(_ext)


@dataclass(frozen=True)
class Planted:
    fmt: str
    variant: str
    picture: bool  # a picture format (not a document or a stub)


def _picture() -> Image.Image:
    rng = np.random.default_rng(5)
    base = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    return Image.fromarray(base, "RGB")


def _written(fmt: str) -> bytes | None:
    picture = _picture()
    for mode in ("RGB", "RGBA", "L", "P", "1"):
        buf = io.BytesIO()
        try:
            picture.convert(mode).save(buf, fmt)
        except Exception:  # noqa: BLE001 - stubs and modes a writer refuses
            continue
        return buf.getvalue()
    return None


def _variants(data: bytes, ext: str) -> dict[str, bytes]:
    n = len(data)
    bad_fields = bytearray(data)
    bad_fields[6:30] = b"\xff" * len(bad_fields[6:30])
    huge = bytearray(data)
    huge[16:20] = b"\x7f\xff\xff\xff"
    zeroed = bytearray(data)
    zeroed[12:24] = bytes(len(zeroed[12:24]))
    flipped = bytearray(data)
    for i in range(n // 2, min(n, n // 2 + 32)):
        flipped[i] ^= 0x55
    return {
        f"ok{ext}": data,
        f"cut16{ext}": data[:16],
        f"cut_third{ext}": data[: n // 3],
        f"cut_tail{ext}": data[: n - max(1, n // 10)],
        f"bad_fields{ext}": bytes(bad_fields),
        f"huge_field{ext}": bytes(huge),
        f"zeroed{ext}": bytes(zeroed),
        f"flipped{ext}": bytes(flipped),
        "renamed.png" if ext in (".jpg", ".jpeg") else "renamed.jpg": data,
        "renamed.bin": data,
    }


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
    b'width="4" height="4"><rect width="4" height="4"/></svg>\n'
)
EXTRA = {
    "jxl/codestream.jxl": b"\xff\x0a\xfa\x7f" + bytes(200),
    "jxl/container.jxl": b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl " + bytes(200),
    "jxl/renamed.jpg": b"\xff\x0a\xfa\x7f" + bytes(200),
    "svg/drawing.svg": SVG,
    "svg/renamed.png": SVG,
    "svg/cut.svg": SVG[:70],
}
ALONE = "unnamed/picture.bin"


def build(root: Path) -> dict[str, Planted]:
    planted: dict[str, Planted] = {}
    for fmt in sorted(Image.SAVE):
        data = _written(fmt)
        if data is None:
            continue
        ext = EXTENSIONS.get(fmt, [".img"])[0]
        for name, variant in _variants(data, ext).items():
            rel = f"{fmt.lower()}/{name}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(variant)
            planted[rel] = Planted(fmt, name.split(".")[0], fmt not in NOT_PICTURES)
    # a TGA only ever seen under a name that says nothing (other bytes than tga/renamed.bin)
    alone = io.BytesIO()
    _picture().transpose(Image.Transpose.ROTATE_90).save(alone, "TGA")
    extra = {**EXTRA, ALONE: alone.getvalue()}
    for rel, data in extra.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        planted[rel] = Planted(rel.split("/")[0], rel.split("/")[1].split(".")[0], True)
    return planted


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass
class Stored:
    state: str
    codes: list[str]
    is_image: bool
    mime: str | None


def read_store(case: Path) -> dict[str, Stored]:
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        contents = {
            sha: (bool(is_image), mime)
            for sha, is_image, mime in db.execute("SELECT sha256, is_image, mime FROM contents")
        }
        by_content: dict[str, list[str]] = {}
        for sha, code in db.execute("SELECT sha256, code FROM content_problems"):
            by_content.setdefault(sha, []).append(code)
        by_location: dict[int, list[str]] = {}
        for loc, code in db.execute("SELECT location_id, code FROM location_problems"):
            by_location.setdefault(loc, []).append(code)
        out = {}
        for loc, rel, state, sha in db.execute("SELECT id, rel_path, state, sha256 FROM locations"):
            is_image, mime = contents.get(sha, (False, None))
            codes = sorted(by_location.get(loc, []) + by_content.get(sha, []))
            out[rel] = Stored(state, codes, is_image, mime)
    return out


@dataclass
class Scan:
    source: Path
    planted: dict[str, Planted]
    before: dict[str, str]
    after: dict[str, str]
    result: subprocess.CompletedProcess[str]
    summary: dict[str, object]
    stored: dict[str, Stored]


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli) -> Scan:
    source = tmp_path_factory.mktemp("hostile")
    planted = build(source)
    before = hashes(source)
    case = tmp_path_factory.mktemp("case") / "case"
    result = run_cli("scan", source, "--case", case, "--workers", "2", "-q", timeout=SCAN_TIMEOUT_S)
    summary = json.loads(run_cli("case", "summary", "--case", case, "--json").stdout)
    return Scan(source, planted, before, hashes(source), result, summary, read_store(case))


def test_scan_completes_without_a_traceback(scan: Scan) -> None:
    output = scan.result.stdout + scan.result.stderr
    assert scan.result.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert scan.summary["pending"] == 0
    assert len(scan.planted) > 250, "the corpus lost its formats"


def test_sources_are_byte_identical(scan: Scan) -> None:
    assert scan.after == scan.before


def test_every_file_is_recorded_and_done(scan: Scan) -> None:
    missing = set(scan.planted) - set(scan.stored)
    assert not missing
    assert {rel for rel in scan.planted if scan.stored[rel].state != "done"} == set()
    broken = {rel: s.codes for rel, s in scan.stored.items() if NEVER & set(s.codes)}
    assert broken == {}, "a worker died, hung or met an exception"


def test_every_image_is_analysed_or_has_a_problem_code(scan: Scan) -> None:
    silent = []
    for rel in scan.planted:
        data = (scan.source / rel).read_bytes()
        ftype = sniff(data[:HEAD_BYTES])
        name = rel.rsplit("/", 1)[-1]
        stored = scan.stored[rel]
        if (ftype.is_image or decode_by_name(name, ftype)) and not (
            stored.is_image or stored.codes
        ):
            silent.append(rel)
    assert silent == []


def test_intact_pictures_are_analysed_cleanly(scan: Scan) -> None:
    """The untouched file of every picture format, and the same bytes renamed .jpg/.png."""
    failed = {}
    for rel, planted in scan.planted.items():
        if planted.fmt in ("jxl", "svg", "unnamed") or planted.variant not in ("ok", "renamed"):
            continue
        if not planted.picture:
            continue
        stored = scan.stored[rel]
        errors = [
            c for c in stored.codes if SEVERITY.get(Code(c), Severity.ERROR) is Severity.ERROR
        ]
        if not stored.is_image or errors:
            failed[rel] = stored.codes
    assert failed == {}


def test_recognised_but_undecoded_images_say_so(scan: Scan) -> None:
    for rel in EXTRA:
        stored = scan.stored[rel]
        assert not stored.is_image
        assert Code.UNSUPPORTED_IMAGE_FORMAT.value in stored.codes, (rel, stored.codes)


def test_a_picture_without_a_signature_or_a_telling_name_is_a_plain_file(scan: Scan) -> None:
    """The documented limit: TGA (and PCX, DIB, XBM...) are only found by their name."""
    stored = scan.stored[ALONE]
    assert not stored.is_image and stored.codes == []
    # the same bytes under a name that says image are analysed, under any name
    assert scan.stored["tga/renamed.jpg"].is_image
    assert scan.stored["tga/renamed.bin"].is_image


def test_bytes_first_seen_as_a_plain_file_become_an_image_under_a_telling_name(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """Content is recorded once per SHA-256; the image reading wins whichever name came first."""
    source, case = tmp_path / "evidence", tmp_path / "case"
    source.mkdir()
    tga = io.BytesIO()
    _picture().save(tga, "TGA")
    (source / "a.bin").write_bytes(tga.getvalue())
    assert run_cli("scan", source, "--case", case, "--workers", "1", "-q").returncode == 0
    assert not read_store(case)["a.bin"].is_image
    (source / "b.tga").write_bytes(tga.getvalue())
    assert run_cli("scan", source, "--case", case, "--workers", "1", "-q").returncode == 0
    stored = read_store(case)
    assert stored["b.tga"].is_image and stored["b.tga"].mime == "image/x-tga"
    assert stored["a.bin"].is_image  # the same content
