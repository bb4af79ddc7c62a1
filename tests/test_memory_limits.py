"""Small files, huge cost: a scan of a folder of such files stays within 2 GB per process.

Each file here is a few MB at most and asks for gigabytes when read naively: PNG text chunks that
inflate to 256 MB each, a 16-bit RGBA PNG just under the pixel limit (1.1 GB of raw samples), a
zip with thousands of members. The scan runs in a fresh wrapper process whose
``RUSAGE_CHILDREN.ru_maxrss`` is the peak resident memory of the largest process of the scan
(the CLI or any worker), so nothing else this test session ran is counted.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from .synthetic import write_jpeg

LIMIT_BYTES = 2 * 1024**3


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


def text_bomb_png() -> bytes:
    """A 1x1 PNG whose eight compressed text chunks inflate to 256 MB each (2 GB in all)."""
    inflated = zlib.compress(b"A" * (256 * 1024**2), 9)
    chunks = b""
    for i in range(4):
        chunks += _chunk(b"zTXt", b"Comment%d\x00\x00" % i + inflated)
        chunks += _chunk(b"iTXt", b"parameters%d\x00\x01\x00\x00\x00" % i + inflated)
    pixel = _chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
    return _png(1, 1, 8, 2, chunks + pixel)


def huge_16bit_rgba_png(side: int = 12_000) -> bytes:
    """side x side pixels, 16-bit RGBA: 8 bytes a pixel (1.15 GB raw at 12,000 px), all zero,
    so the file is about 1 MB."""
    row = b"\x00" * (1 + side * 8)
    comp = zlib.compressobj(1)
    parts = [comp.compress(row) for _ in range(side)]
    parts.append(comp.flush())
    return _png(side, side, 16, 6, _chunk(b"IDAT", b"".join(parts)))


def many_members_zip(n: int = 5_000) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            zf.writestr(f"m/{i:05d}.txt", b"x" * 10)
    return buf.getvalue()


@pytest.mark.slow
def test_a_folder_of_costly_small_files_stays_within_2_gb(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "text_bomb.png").write_bytes(text_bomb_png())
    (evidence / "rgba16.png").write_bytes(huge_16bit_rgba_png())
    (evidence / "members.zip").write_bytes(many_members_zip())
    write_jpeg(evidence / "ordinary.jpg", seed=5, width=320, height=240)
    assert sum(f.stat().st_size for f in evidence.iterdir()) < 8 * 1024**2
    case = tmp_path / "case"
    script = Path(sys.executable).with_name("consentry")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "consentry.cli.main"]
    scan = [*command, "scan", str(evidence), "--case", str(case), "--workers", "2", "-q"]
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "rc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=900)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(json.dumps({'rc': rc.returncode, 'peak': peak, 'err': rc.stderr[-2000:]}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", wrapper, *scan, "--no-links"],
        capture_output=True,
        text=True,
        timeout=960,
    )
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["rc"] == 0, outcome["err"]
    assert "Traceback" not in outcome["err"]
    assert outcome["peak"] < LIMIT_BYTES, f"peak RSS {outcome['peak'] / 1024**2:,.0f} MiB"
    summary = subprocess.run(
        [*command, "case", "problems", "--case", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    codes = {(Path(p["path"]).name, p["code"]) for p in json.loads(summary.stdout)["problems"]}
    assert ("text_bomb.png", "metadata_too_large") in codes, codes
    assert any(name == "rgba16.png" for name, _ in codes), codes  # refused, with its reason
    done = subprocess.run(
        [*command, "case", "summary", "--case", str(case), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    counts = json.loads(done.stdout)
    assert counts["pending"] == 0 and counts["files"] == 4 + 5_000
