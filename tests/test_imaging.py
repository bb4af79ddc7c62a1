"""Decoding: only ItemError escapes, every decodable format is an image, memory is bounded.

Hostile files here are built byte by byte (struct, zlib) or written by Pillow and then broken;
all pictures are noise or flat colour.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from consentry.analyzers.provenance import containers
from consentry.analyzers.provenance.metadata import read_metadata
from consentry.media import decode as imaging
from consentry.media.decode import decode_bytes_estimate, decode_image
from consentry.media.sniff import HEAD_BYTES, IMAGE_EXTENSIONS, decode_by_name, sniff
from consentry.records.items import WorkItem, WorkResult
from consentry.records.locations import LocationRef
from consentry.records.problems import Code, ItemError
from consentry.scan.worker import process

Image.init()
_RNG = np.random.default_rng(7)
NOISE = Image.fromarray(_RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8), "RGB")


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def png_declaring(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 10))
        + chunk(b"IEND", b"")
    )


def png_with_text(picture: bytes, chunks: list[bytes]) -> bytes:
    """``picture`` (a PNG) with extra chunks inserted after IHDR."""
    ihdr_end = 8 + 12 + 13
    return picture[:ihdr_end] + b"".join(chunks) + picture[ihdr_end:]


def ztxt_bomb(key: bytes, size: int) -> bytes:
    return chunk(b"zTXt", key + b"\0\0" + zlib.compress(b"a" * size, 9))


# -- hostile files that used to escape decode_image with other exceptions ---------------------


def tiff_second_frame_without_size() -> bytes:
    """Frame 1 fine; frame 2's IFD has no ImageWidth/ImageLength (TypeError at n_frames)."""
    data = bytearray(
        encode(
            Image.new("RGB", (4, 4)),
            "TIFF",
            save_all=True,
            append_images=[Image.new("RGB", (4, 4))],
        )
    )
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    second = struct.unpack("<I", data[first + 2 + 12 * count : first + 6 + 12 * count])[0]
    for i in range(struct.unpack("<H", data[second : second + 2])[0]):
        at = second + 2 + 12 * i
        if struct.unpack("<H", data[at : at + 2])[0] in (256, 257):
            data[at : at + 2] = struct.pack("<H", 999)  # an unknown tag instead
    return bytes(data)


def psd(layer_block: bytes = b"") -> bytes:
    """A 2x2 RGB Photoshop file, raw channels; ``layer_block``: its layer info section."""
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 2, 2, 8, 3)
    layers = struct.pack(">I", len(layer_block)) + layer_block if layer_block else b""
    mask_info = struct.pack(">I", len(layers)) + layers
    image = struct.pack(">H", 0) + bytes(range(12))
    return header + struct.pack(">II", 0, 0) + mask_info + image


def psd_too_many_layers() -> bytes:
    """Declares 5 layers in 30 bytes (SyntaxError when the frames are counted)."""
    return psd(struct.pack(">h", 5) + bytes(30))


def dds_unknown_pixel_format() -> bytes:
    """A DDS whose FourCC names no codec (NotImplementedError at open... or load)."""
    data = bytearray(encode(Image.new("RGBA", (8, 8)), "DDS"))
    data[80:84] = struct.pack("<I", 4)  # DDPF_FOURCC
    data[84:88] = b"ZZZZ"
    return bytes(data)


def icns_with_png_bomb() -> bytes:
    """An ICNS whose 1024 px entry is a PNG declaring 30000x30000 (bomb raised by load())."""
    body = png_declaring(30000, 30000)
    entry = b"ic10" + struct.pack(">I", 8 + len(body)) + body
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


HOSTILE = {
    "tiff_missing_dimensions": (tiff_second_frame_without_size, Code.CORRUPT_IMAGE),
    "psd_layer_block_too_short": (psd_too_many_layers, Code.CORRUPT_IMAGE),
    "dds_unimplemented_pixel_format": (dds_unknown_pixel_format, Code.UNSUPPORTED_IMAGE_FORMAT),
    "icns_bomb_at_load": (icns_with_png_bomb, Code.DECOMPRESSION_BOMB),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_raises_item_error_with_stable_code(name: str) -> None:
    build, code = HOSTILE[name]
    with pytest.raises(ItemError) as caught:
        decode_image(build())
    assert caught.value.code is code


def test_plain_psd_decodes_and_a_renamed_one_is_still_analysed(tmp_path: Path) -> None:
    assert decode_image(psd()).format == "PSD"
    result = scan_file(tmp_path / "a.jpg", psd())
    assert result.content is not None and result.content.is_image
    assert result.content.image_format == "PSD"
    assert codes(result) == ["wrong_extension"]


# -- every format the installed Pillow writes is an image to the scan ---------------------------

# Pillow writes these but they are documents, stubs that need external handlers, or (PALM) a
# format Pillow cannot read back; EPS needs Ghostscript.
NOT_PICTURES = {"PDF", "EPS", "PALM", "BUFR", "GRIB", "HDF5", "WMF"}
EXTENSIONS = {"SPIDER": [".spi"]}  # SPIDER has no extension in Pillow's registry
for _ext, _fmt in Image.EXTENSION.items():
    EXTENSIONS.setdefault(_fmt, []).append(_ext)


def name_for(fmt: str, data: bytes) -> str:
    """A file name with the extension that fits the content (Netpbm, JPEG 2000: several)."""
    mime = sniff(data[:HEAD_BYTES]).mime
    exts = EXTENSIONS.get(fmt, [".img"])
    fitting = [e for e in exts if IMAGE_EXTENSIONS.get(e) == mime]
    return "x" + (fitting or [e for e in exts if e in IMAGE_EXTENSIONS] or exts)[0]


def writable_formats() -> list[str]:
    return sorted(fmt for fmt in Image.SAVE if fmt not in NOT_PICTURES)


def sample(fmt: str) -> bytes:
    for mode in ("RGB", "RGBA", "L", "P", "1"):
        try:
            return encode(NOISE.convert(mode), fmt)
        except (OSError, ValueError, KeyError):
            continue
    raise AssertionError(f"Pillow cannot write {fmt}")


@pytest.mark.parametrize("fmt", writable_formats())
def test_every_writable_format_is_analysed_as_an_image(fmt: str, tmp_path: Path) -> None:
    data = sample(fmt)
    name = name_for(fmt, data)
    ftype = sniff(data[:HEAD_BYTES])
    assert ftype.is_image or decode_by_name(name, ftype), f"{fmt}: sniffed {ftype.mime}"
    result = scan_file(tmp_path / name, data)
    assert result.content is not None and result.content.is_image, codes(result)
    assert result.content.mime.startswith("image/"), result.content.mime
    assert "wrong_extension" not in codes(result)


def test_tga_has_no_signature_so_its_name_decides(tmp_path: Path) -> None:
    data = sample("TGA")
    named = scan_file(tmp_path / "a.tga", data)
    assert named.content is not None and named.content.is_image
    assert (named.content.mime, named.content.image_format) == ("image/x-tga", "TGA")
    renamed = scan_file(tmp_path / "a.jpg", data)  # the decoder says what it is
    assert renamed.content is not None and renamed.content.image_format == "TGA"
    assert codes(renamed) == ["wrong_extension"]
    anonymous = scan_file(tmp_path / "a.bin", data)  # no name, no signature: a plain file
    assert anonymous.content is not None and not anonymous.content.is_image
    assert codes(anonymous) == []


SVG = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
    b"<!-- Created with a drawing program: a comment long enough to push the tag along -->\n"
    b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
    b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<image href="data:image/png;base64,AAAA"/></svg>\n'
)
NOT_DECODED = {
    "jxl_codestream": (b"\xff\x0a\xfa\x7f" + bytes(60), "image/jxl"),
    "jxl_container": (
        b"\x00\x00\x00\x0cJXL \r\n\x87\n\x00\x00\x00\x14ftypjxl " + bytes(40),
        "image/jxl",
    ),
    "svg": (SVG, "image/svg+xml"),
    "pam": (b"P7\nWIDTH 1\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n\0\0\0", None),
    "pfm_colour": (b"PF\n1 1\n-1.0\n" + bytes(12), None),
}


@pytest.mark.parametrize("kind", sorted(NOT_DECODED))
def test_recognised_image_types_not_decoded_say_so(kind: str, tmp_path: Path) -> None:
    data, mime = NOT_DECODED[kind]
    result = scan_file(tmp_path / "item", data)
    assert result.content is not None and not result.content.is_image
    assert mime is None or result.content.mime == mime
    assert codes(result) == ["unsupported_image_format"]
    assert result.content_problems[0].severity.value == "warning"


def test_html_mentioning_svg_and_text_starting_p5_are_not_images() -> None:
    assert not sniff(b"<!doctype html><html><body><svg></svg></body></html>").is_image
    assert not sniff(b"P5 is the fifth point of the plan\n").is_image
    assert sniff(b"P5\n2 2\n255\n\0\0\0\0").is_image


# -- memory: a byte budget, strips, text limits -------------------------------------------------


def test_over_the_byte_budget_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    rgba = encode(Image.new("RGBA", (1000, 1000), (1, 2, 3, 4)), "PNG")
    monkeypatch.setattr(
        imaging, "DECODE_BYTE_BUDGET", decode_bytes_estimate(999, 999, "RGBA", "PNG")
    )
    with pytest.raises(ItemError) as caught:
        decode_image(rgba)
    assert caught.value.code is Code.TOO_LARGE_FOR_ANALYSIS
    # a JPEG is decoded at reduced size, so the same budget fits a far larger one
    jpeg = encode(NOISE.resize((4000, 3000)), "JPEG")
    assert decode_image(jpeg).width == 4000


def test_jpeg2000_over_budget_is_decoded_at_a_lower_resolution_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    j2k = encode(NOISE.resize((2048, 1536)), "JPEG2000")
    monkeypatch.setattr(
        imaging, "DECODE_BYTE_BUDGET", decode_bytes_estimate(1024, 768, "RGB", "JPEG2000")
    )
    image = decode_image(j2k)
    assert (image.width, image.height) == (2048, 1536)
    assert max(image.rgb.shape[:2]) == 512


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "I;16", "I", "F", "CMYK", "1"])
def test_conversion_in_strips_gives_the_same_pixels(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = Image.fromarray(_RNG.integers(0, 256, (300, 200, 4), dtype=np.uint8), "RGBA")
    if mode == "I;16":
        img = Image.fromarray(_RNG.integers(0, 65536, (300, 200)).astype(np.uint16))
    elif mode in ("I", "F"):
        values = _RNG.normal(0, 1e4, (300, 200))
        img = Image.fromarray(values.astype(np.int32 if mode == "I" else np.float32))
    elif mode == "P":
        img = big.convert("RGB").convert("P")
        img.info["transparency"] = 3
    else:
        img = big.convert(mode)
    whole = np.asarray(imaging._to_rgb_whole(img, None))
    monkeypatch.setattr(imaging, "_STRIP_PIXELS", 200 * 7)  # 43 strips, the last one short
    assert np.array_equal(np.asarray(imaging._to_rgb(img)), whole)


PEAK_SCRIPT = """
import resource, sys
from consentry.media.decode import decode_image
data = open(sys.argv[1], "rb").read()
decode_image(open(sys.argv[2], "rb").read())  # imports and warm-up done
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
decode_image(data)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


@pytest.mark.parametrize("mode", ["RGBA", "I;16"])
def test_measured_peak_stays_within_the_estimate(mode: str, tmp_path: Path) -> None:
    """16-bit and RGBA PNGs peaked at 26 and 20 bytes/pixel; the budget assumes ~8."""
    width, height = 4000, 3000
    if mode == "I;16":
        img = Image.fromarray(_RNG.integers(0, 65536, (height, width)).astype(np.uint16))
    else:
        img = Image.fromarray(_RNG.integers(0, 256, (height, width, 4), dtype=np.uint8), "RGBA")
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    img.save(big, compress_level=1)
    Image.new("RGB", (8, 8)).save(small)
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(big), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    peak = int(out.stdout.strip())
    assert peak <= decode_bytes_estimate(width, height, mode, "PNG"), peak / (width * height)


TEXT_BOMB_CHUNKS = 18  # x 4 MiB: over the 16 MiB per-file budget and Pillow's own 64 MiB default


def test_png_with_text_over_budget_is_analysed_without_it() -> None:
    picture = encode(NOISE, "PNG")
    bombs = [ztxt_bomb(b"k%d" % i, imaging.PNG_TEXT_CHUNK_BYTES) for i in range(TEXT_BOMB_CHUNKS)]
    image = decode_image(png_with_text(picture, bombs))
    assert [p.code for p in image.problems] == [Code.METADATA_TOO_LARGE]
    assert np.array_equal(image.rgb, decode_image(picture).rgb)
    # one chunk over the per-chunk limit is enough
    one = decode_image(png_with_text(picture, [ztxt_bomb(b"k", imaging.PNG_TEXT_CHUNK_BYTES + 1)]))
    assert [p.code for p in one.problems] == [Code.METADATA_TOO_LARGE]
    assert decode_image(png_with_text(picture, bombs[:1])).problems == []


def test_metadata_reader_keeps_at_most_the_file_budget_of_text() -> None:
    picture = encode(NOISE, "PNG")
    bombs = [ztxt_bomb(b"k%d" % i, imaging.PNG_TEXT_CHUNK_BYTES) for i in range(10)]
    data = png_with_text(picture, bombs)
    tracemalloc.start()
    try:
        texts, _exif, problems = containers.png_text_chunks(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    kept = sum(len(value) for _key, value in texts)
    assert kept <= containers.MAX_TEXT_PER_FILE
    assert any("metadata_too_large" in p for p in problems)
    assert peak < 3 * containers.MAX_TEXT_PER_FILE
    metadata = read_metadata(data)  # never raises, keeps the problem
    assert any("metadata_too_large" in p for p in metadata.problems)


# -- helpers -------------------------------------------------------------------------------------


def scan_file(path: Path, data: bytes) -> WorkResult:
    """The per-file path of a scan (no analyzers loaded: decoding, hashes and PDQ only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return process(WorkItem(1, LocationRef(os.fsencode(path)), path.name))


def codes(result: WorkResult) -> list[str]:
    """Problem codes, without low_pdq_quality (small noise pictures may or may not get it)."""
    found = (p.code.value for p in result.location_problems + result.content_problems)
    return sorted(c for c in found if c != "low_pdq_quality")


def test_a_truncated_jpeg_is_reported_even_after_weasyprint_allowed_truncation() -> None:
    """WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import; a scan in the same
    process (services called by one front end) must still record a cut-short file."""
    from PIL import ImageFile

    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(buf, "JPEG")
    whole = buf.getvalue()
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(ItemError) as caught:
            decode_image(whole[: len(whole) // 3])
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    assert caught.value.code is Code.TRUNCATED_IMAGE
