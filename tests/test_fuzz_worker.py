"""Fuzzing the per-file path: mutated image and zip bytes -> ``worker.process`` -> a result.

Hypothesis mutates valid JPEG, PNG, TIFF, GIF, WebP, HEIC, PSD, zip, BMP, ICO, JPEG 2000, DDS and
TGA files (bit flips, 32-bit fields set to extremes or to large sizes, truncation, inserted and
copied bytes, biased towards the headers; PNG CRCs recomputed half the time) and every result
must hold:

- ``worker.process`` returns a ``WorkResult`` and raises nothing; no ``internal_error`` either
  (that is the worker's catch-all for exceptions nobody expected: decode must not need it);
- the content is recorded, and anything sniffed or named as an image is either analysed as one
  or carries a problem code;
- each file takes under ``MAX_SECONDS`` and its peak RSS stays under the decoder's byte budget
  plus a margin (``MAX_EXTRA_RSS``), measured per file in a child process with the kernel's
  high-water mark reset before each file (``/proc/self/clear_refs``) and ``RLIMIT_AS`` as a
  backstop, so a runaway allocation cannot take the test machine down.

The analyzers are limited to what is cheap and model-free: provenance (C2PA, PNG text, EXIF,
XMP, watermarks) runs, the explicit-content and face models do not. The normal test run does a
fixed, derandomised ``DEFAULT_EXAMPLES``; ``make fuzz`` sets ``CONSENTRY_FUZZ_EXAMPLES`` for a
longer run with fresh random examples (findings: docs/fuzzing.md).
"""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import resource
import struct
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from consentry.analyzers.plan import AnalysisPlan
from consentry.analyzers.runner import init_process, reset_process
from consentry.media import decode as imaging
from consentry.media.sniff import HEAD_BYTES, expected_mime, sniff
from consentry.records.items import WorkItem, WorkResult
from consentry.records.locations import LocationRef
from consentry.scan.worker import process

DEFAULT_EXAMPLES = 1500
EXAMPLES = int(os.environ.get("CONSENTRY_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
LONG_RUN = "CONSENTRY_FUZZ_EXAMPLES" in os.environ
MAX_SECONDS = 10.0
MAX_EXTRA_RSS = imaging.DECODE_BYTE_BUDGET + (256 << 20)
ADDRESS_SPACE_MARGIN = 3 << 30  # RLIMIT_AS above the child's size at start

# -- seeds: small, valid, synthetic files ---------------------------------------------------------


def _picture(width: int = 40, height: int = 30) -> Image.Image:
    rng = np.random.default_rng(11)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def _psd() -> bytes:
    """A 4x3 RGB Photoshop file with one layer record (Pillow cannot write PSD)."""
    width, height = 4, 3
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    channel_bytes = 2 + width * height
    record = struct.pack(">iiiiH", 0, 0, height, width, 3)
    record += b"".join(struct.pack(">hI", c, channel_bytes) for c in (0, 1, 2))
    record += b"8BIMnorm" + bytes([255, 0, 0, 0]) + struct.pack(">I", 8) + bytes(8)
    layer_data = b"".join(struct.pack(">H", 0) + bytes(width * height) for _ in range(3))
    layer_info = struct.pack(">h", 1) + record + layer_data
    layers = struct.pack(">I", len(layer_info)) + layer_info
    mask_info = struct.pack(">I", len(layers)) + layers
    image = struct.pack(">H", 0) + bytes(range(3 * width * height))
    return header + struct.pack(">II", 0, 0) + mask_info + image


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", _encode(_picture(), "JPEG"))
        zf.writestr("dir/b.png", _encode(_picture(16, 16), "PNG"), zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _seeds() -> dict[str, bytes]:
    exif = Image.Exif()
    exif[0x0112] = 6
    info = PngInfo()
    info.add_text("parameters", "a prompt\nSteps: 20, Seed: 1")
    info.add_text("workflow", '{"nodes": []}', zip=True)
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta></x:xmpmeta>", zip=True)
    frames = [_picture(), _picture().transpose(Image.Transpose.ROTATE_180)]
    seeds = {
        ".jpg": _encode(_picture(), "JPEG", exif=exif.tobytes()),
        ".png": _encode(_picture().convert("RGBA"), "PNG", pnginfo=info),
        ".tif": _encode(
            frames[0], "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw"
        ),
        ".gif": _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        ".webp": _encode(_picture(), "WEBP", quality=50),
        ".psd": _psd(),
        ".zip": _zip(),
        # formats the sniffer learnt later: their decoders now see hostile bytes too
        ".bmp": _encode(_picture(), "BMP"),
        ".ico": _encode(_picture(), "ICO", bitmap_format="bmp"),
        ".jp2": _encode(_picture(), "JPEG2000"),
        ".dds": _encode(_picture().convert("RGBA"), "DDS"),
        ".tga": _encode(_picture(), "TGA", compression="tga_rle"),
    }
    seeds[".heic"] = _encode(_picture(), "HEIF", quality=30)  # pillow-heif: a core dependency
    return seeds


SEEDS = _seeds()
# 32-bit extremes, and sizes a width or height field may take: large but within the pixel limit
FIELDS = [b"\0\0\0\0", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\0\0\0", b"\0\1\0\0"]
SIZES = [b"\x20\x00", b"\x00\x20", b"\x00\x00\x20\x00", b"\x00\x20\x00\x00", b"\xff\xff"]
SIGNATURE = 12  # bytes most mutations leave alone, so the decoders get past their magic


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(file extension, bytes): a seed with 1-4 mutations, most of them in its header."""
    ext = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[ext])
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        end = len(data) - 1
        header = st.integers(min(SIGNATURE, end), min(end, 127))
        pos = draw(st.one_of(header, header, st.integers(0, end)))
        op = draw(st.sampled_from(["flip", "byte", "field", "size", "truncate", "insert", "copy"]))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte":
            data[pos] = draw(st.integers(0, 255))
        elif op == "field":
            data[pos : pos + 4] = draw(st.sampled_from(FIELDS))
        elif op == "size":
            value = draw(st.sampled_from(SIZES))
            data[pos : pos + len(value)] = value
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            start = draw(st.integers(0, end))
            data[pos:pos] = data[start : start + draw(st.integers(1, 64))]
    if ext == ".png" and draw(st.booleans()):
        data = _fix_png_crcs(data)  # else nearly every mutation stops at a CRC check
    return ext, bytes(data)


def _fix_png_crcs(data: bytearray) -> bytearray:
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 8 + length
        if end + 4 > len(data):
            break
        data[end : end + 4] = struct.pack(">I", zlib.crc32(data[pos + 4 : end]))
        pos = end + 4
    return data


# -- the sandbox: a child process that runs worker.process, measured ----------------------------


@dataclass
class Outcome:
    error: str | None = None  # an exception out of worker.process (never expected)
    seconds: float = 0.0
    extra_rss: int = 0  # peak RSS during this file, over the RSS before it
    has_content: bool = False
    is_image: bool = False
    mime: str = ""
    codes: list[str] = field(default_factory=list)
    children: int = 0


def _rss_kib(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _serve(conn: Connection) -> None:
    """Child: one file per request; never returns while the parent talks to it."""
    soft_size = _rss_kib("VmSize") * 1024 + ADDRESS_SPACE_MARGIN
    resource.setrlimit(resource.RLIMIT_AS, (soft_size, soft_size))
    reset_process()
    init_process(AnalysisPlan(frozenset({"provenance"}), None))
    while True:
        path = conn.recv()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak RSS (VmHWM) to the current RSS
        before = _rss_kib("VmRSS")
        outcome = Outcome()
        start = time.perf_counter()
        try:
            result = process(WorkItem(1, LocationRef(os.fsencode(path)), os.path.basename(path)))
        except BaseException as exc:  # noqa: BLE001 - exactly what this test looks for
            outcome.error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            _summarise(result, outcome)
        outcome.seconds = time.perf_counter() - start
        outcome.extra_rss = (_rss_kib("VmHWM") - before) * 1024
        conn.send(outcome)


def _summarise(result: WorkResult, outcome: Outcome) -> None:
    outcome.codes = sorted(p.code.value for p in result.location_problems + result.content_problems)
    outcome.children = len(result.children)
    if result.content is not None:
        outcome.has_content = True
        outcome.is_image = result.content.is_image
        outcome.mime = result.content.mime


class Sandbox:
    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("fork")
        self._start()

    def _start(self) -> None:
        self._conn, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        child.close()

    def run(self, path: str) -> Outcome:
        self._conn.send(path)
        if self._conn.poll(MAX_SECONDS * 3):
            try:
                outcome: Outcome = self._conn.recv()
                return outcome
            except EOFError:
                pass
        # hung or died (a native crash): say so, and start a fresh child for the next file
        died = f"child exit code {self._proc.exitcode}" if not self._proc.is_alive() else "hung"
        self.close()
        self._start()
        return Outcome(error=f"worker process {died}", seconds=MAX_SECONDS * 3)

    def close(self) -> None:
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join(5)
        self._conn.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="consentry-fuzz-") as folder:
        yield Path(folder)


def check(outcome: Outcome, ext: str, data: bytes) -> None:
    assert outcome.error is None, outcome.error
    assert "internal_error" not in outcome.codes, outcome.codes
    assert outcome.seconds < MAX_SECONDS, f"{outcome.seconds:.1f} s"
    assert outcome.extra_rss < MAX_EXTRA_RSS, f"{outcome.extra_rss / 2**20:.0f} MiB"
    assert outcome.has_content or outcome.codes, "no content and no problem"
    ftype = sniff(data[:HEAD_BYTES])
    if ftype.is_image or (expected_mime("x" + ext) and ftype.mime == "application/octet-stream"):
        assert outcome.is_image or outcome.codes, f"{ftype.mime}: neither analysed nor a problem"
    # A zip may list no member and carry no problem: an empty central directory is a valid
    # (empty) zip even when local headers are still there (docs/fuzzing.md, finding 1).


def test_every_seed_is_analysed_cleanly(sandbox: Sandbox, scratch: Path) -> None:
    for ext, data in SEEDS.items():
        path = scratch / f"seed{ext}"
        path.write_bytes(data)
        outcome = sandbox.run(str(path))
        check(outcome, ext, data)
        assert outcome.is_image or outcome.children, (ext, outcome)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutated_files())
def test_mutated_files_never_break_the_worker(
    sandbox: Sandbox, scratch: Path, case: tuple[str, bytes]
) -> None:
    ext, data = case
    path = scratch / f"fuzz{ext}"
    path.write_bytes(data)
    outcome = sandbox.run(str(path))
    try:
        check(outcome, ext, data)
    except AssertionError:
        if findings := os.environ.get("CONSENTRY_FUZZ_FINDINGS"):  # make fuzz: keep the input
            keep = Path(findings)
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"{hashlib.sha256(data).hexdigest()[:16]}{ext}").write_bytes(data)
        raise
