"""The matching service hashes an upload exactly as a scan hashes a file, and refuses what it
cannot decode with a stable code (harmless synthetic pictures only)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from consentry.analyzers.pdq import DIHEDRAL_DEVIATION_MAX, MATCH_DISTANCE, hamming, pdq_of_rgb
from consentry.media.decode import decode_image
from consentry.services.matching.hashing import hash_image
from consentry.services.matching.types import MatchErrorCode, MatchServiceError
from consentry.services.scan import hash_image as scan_hash_image

from .synthetic import photo_like


def _jpeg(seed: int = 3, **kwargs: int) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, **kwargs).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _code(data: bytes, content_type: str | None = None, **kwargs: int) -> MatchErrorCode:
    with pytest.raises(MatchServiceError) as caught:
        hash_image(data, content_type, **kwargs)
    assert "\n" not in caught.value.message
    return caught.value.code


def test_hashes_are_those_of_the_bytes_and_of_the_scan(tmp_path: Path) -> None:
    data = _jpeg(width=400, height=300)
    hashed = hash_image(data, "image/jpeg")
    assert hashed.sha256 == hashlib.sha256(data).hexdigest()
    assert hashed.md5 == hashlib.md5(data).hexdigest()
    assert (hashed.width, hashed.height) == (400, 300)
    expected = pdq_of_rgb(decode_image(data).rgb)
    assert hashed.pdq == expected.hex and hashed.pdq_quality == expected.quality
    assert len(hashed.pdq_dihedral) == 8 and hashed.pdq_dihedral[0] == hashed.pdq
    assert len(set(hashed.pdq_dihedral)) == 8  # a textured picture: 8 distinct variants
    # the scan's own per-file path gives the same hashes: a case's hash pack meets the service
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    scanned = scan_hash_image(str(path))
    assert (scanned.sha256, scanned.md5, scanned.pdq) == (hashed.sha256, hashed.md5, hashed.pdq)


def test_a_mirrored_copy_meets_a_dihedral_variant() -> None:
    picture = photo_like(11, 320, 240)
    original = hash_image(_jpeg(11, width=320, height=240))
    buf = io.BytesIO()
    ImageOps.mirror(picture).save(buf, "JPEG", quality=90)
    mirrored = hash_image(buf.getvalue())
    assert hamming(mirrored.pdq or "", original.pdq or "") > 2 * MATCH_DISTANCE
    best = min(hamming(v, original.pdq or "") for v in mirrored.pdq_dihedral)
    assert best <= DIHEDRAL_DEVIATION_MAX


def test_exif_orientation_is_applied_before_hashing() -> None:
    picture = photo_like(5, 300, 200)
    upright = io.BytesIO()
    picture.save(upright, "PNG")
    # the same picture stored on its side with orientation 6 ("rotate 90 CW to display")
    stored = picture.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = io.BytesIO()
    stored.save(sideways, "PNG", exif=exif.tobytes())
    a, b = hash_image(upright.getvalue()), hash_image(sideways.getvalue())
    assert hamming(a.pdq or "", b.pdq or "") <= 4
    assert (b.width, b.height) == (200, 300)  # as stored in the file


@pytest.mark.parametrize(
    "content_type", ["text/html", "application/json", "video/mp4", "multipart/form-data"]
)
def test_a_content_type_that_is_not_an_image_is_refused(content_type: str) -> None:
    code = _code(_jpeg(), content_type)
    assert code is MatchErrorCode.BAD_CONTENT_TYPE
    assert MatchServiceError(code, "").http_status == 415


@pytest.mark.parametrize(
    "content_type", [None, "image/png", "IMAGE/JPEG; q=1", "application/octet-stream", ""]
)
def test_image_and_unspecific_content_types_are_accepted(content_type: str | None) -> None:
    assert hash_image(_jpeg(), content_type).pdq is not None


def test_what_does_not_decode_is_a_bad_image() -> None:
    data = _jpeg(width=200, height=200)
    for bad in (
        b"",
        b"hello, this is text\n" * 20,
        data[: len(data) // 3],
        b"\xff\xd8\xff" + bytes(99),
    ):
        assert _code(bad) is MatchErrorCode.BAD_IMAGE
    assert MatchServiceError(MatchErrorCode.BAD_IMAGE, "").http_status == 422


def test_over_the_byte_limit_is_too_large() -> None:
    data = _jpeg()
    assert _code(data, max_bytes=len(data) - 1) is MatchErrorCode.TOO_LARGE
    assert hash_image(data, max_bytes=len(data)).sha256 == hashlib.sha256(data).hexdigest()


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` (a decompression bomb's trick)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_a_declared_size_over_the_pixel_limit_is_too_large() -> None:
    code = _code(_png_declaring(20_000, 20_000))  # 400 MP, over the 200 MP limit
    assert code is MatchErrorCode.TOO_LARGE
    assert MatchServiceError(code, "").http_status == 413


def test_nothing_is_written_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    opened: list[str] = []
    real_open = io.open

    def watching_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if any(flag in mode for flag in "wax+"):
            opened.append(str(file))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", watching_open)
    hash_image(_jpeg(width=640, height=480))
    assert opened == [] and list(tmp_path.iterdir()) == []


def test_concurrent_uploads_decode_at_most_decode_slots_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading
    import time

    from consentry.services.matching import hashing

    lock = threading.Lock()
    running = [0]
    peak = [0]
    real = hashing.decode_image

    def slow(data: bytes, max_side: int = 512) -> object:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        try:
            return real(data, max_side)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(hashing, "decode_image", slow)
    data = _jpeg()
    threads = [threading.Thread(target=hash_image, args=(data,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == hashing.DECODE_SLOTS
