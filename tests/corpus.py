"""A corpus of broken, hostile and unusual evidence, generated on the spot.

Every file is synthetic (gradients, noise and shapes drawn with Pillow; archives built with
zipfile and struct), so the corpus needs no download and holds no real imagery. ``build_corpus``
writes it into a folder and returns the manifest: for every location a scan must record (files
on disk and archive members), the problem codes it must carry and what must be known about its
content. Entries with no codes are files a scan must analyse cleanly.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from consentry.media.archives import MAX_ARCHIVE_DEPTH, MAX_RATIO, RATIO_FLOOR_BYTES

from .synthetic import photo_like

OK: frozenset[str] = frozenset()

# How far apart (Hamming bits) two PDQs of the same picture may be after separate JPEG encodes.
SAME_PICTURE_BITS = 16

# A file the reader refuses in the in-process run (see tests/test_bad_inputs.py): as root,
# chmod 000 does not stop a read, so unreadability is simulated at the reader's os.open.
SEAM_UNREADABLE = "unreadable.jpg"

# The EXIF-rotated picture as stored in the file (landscape; displayed portrait).
ROTATED_STORED_SIZE = (240, 160)


@dataclass(frozen=True)
class Expected:
    kind: str  # names the test case
    codes: frozenset[str] = OK  # problem codes of the location and of its content
    mime: str | None = None  # content recorded with this type; None: never read, no content
    image_format: str | None = None  # decoded as this format, with a PDQ
    color_mode: str | None = None
    frames: int | None = None
    orientation: int | None = None


def _codes(*codes: str) -> frozenset[str]:
    return frozenset(codes)


JPEG, PNG, GIF = "image/jpeg", "image/png", "image/gif"
ZIP = "application/zip"

# What a scan records for SEAM_UNREADABLE when nothing refuses it: a plain JPEG.
SEAM_UNREADABLE_WHEN_READ = Expected("unreadable", mime=JPEG, image_format="JPEG")


def _deep_chain_entries() -> dict[str, Expected]:
    """deep.zip!/d1.zip!/.../dN.zip where dN sits at the depth where listing stops."""
    entries = {"deep.zip": Expected("deep_zip_outer", mime=ZIP)}
    path = "deep.zip"
    for level in range(1, MAX_ARCHIVE_DEPTH + 1):
        path += f"!/d{level}.zip"
        if level < MAX_ARCHIVE_DEPTH:
            entries[path] = Expected(f"deep_zip_level{level}", mime=ZIP)
        else:
            entries[path] = Expected("archive_too_deep", _codes("archive_too_deep"), mime=ZIP)
    return entries


EXPECTED: dict[str, Expected] = {
    # plain, healthy files: analysed, no problem
    "good/photo.jpg": Expected("good_jpeg", mime=JPEG, image_format="JPEG", color_mode="RGB"),
    "good/drawing.png": Expected("good_png", mime=PNG, image_format="PNG", color_mode="RGB"),
    "good/notes.txt": Expected("text_file", mime="text/plain"),
    "good/report.pdf": Expected("pdf_header", mime="application/pdf"),
    "link_to_photo.jpg": Expected("symlink_to_file", mime=JPEG, image_format="JPEG"),
    SEAM_UNREADABLE: Expected("unreadable", _codes("unreadable")),
    # image modes that need care when converted to RGB
    "modes/cmyk.jpg": Expected("cmyk_jpeg", mime=JPEG, image_format="JPEG", color_mode="CMYK"),
    "modes/gray16.png": Expected("png_16bit", mime=PNG, image_format="PNG", color_mode="I;16"),
    "modes/palette_transparent.png": Expected(
        "palette_png_transparency", mime=PNG, image_format="PNG", color_mode="P"
    ),
    "modes/rgba.png": Expected("rgba_png", mime=PNG, image_format="PNG", color_mode="RGBA"),
    "modes/animated.gif": Expected(
        "animated_gif", _codes("animated_image"), mime=GIF, image_format="GIF", frames=3
    ),
    "modes/rotated.jpg": Expected(
        "exif_orientation_6", mime=JPEG, image_format="JPEG", orientation=6
    ),
    "modes/upright.jpg": Expected(
        "exif_upright_twin", mime=JPEG, image_format="JPEG", orientation=1
    ),
    "modes/phone.heic": Expected("heic", mime="image/heic", image_format="HEIF"),
    # files that cannot be (fully) analysed
    "empty.jpg": Expected("empty_file", _codes("empty_file"), mime="application/x-empty"),
    "truncated.jpg": Expected("truncated_jpeg", _codes("truncated_image"), mime=JPEG),
    "truncated.png": Expected("truncated_png", _codes("truncated_image"), mime=PNG),
    "png_named.jpg": Expected(
        "wrong_extension", _codes("wrong_extension"), mime=PNG, image_format="PNG"
    ),
    "garbage.jpg": Expected(
        "unrecognized_image", _codes("unrecognized_image"), mime="application/octet-stream"
    ),
    "bomb.png": Expected("decompression_bomb", _codes("decompression_bomb"), mime=PNG),
    "corrupt.png": Expected("corrupt_image", _codes("corrupt_image"), mime=PNG),
    "flat.png": Expected(
        "low_pdq_quality", _codes("low_pdq_quality"), mime=PNG, image_format="PNG"
    ),
    "caf\\xe9.jpg": Expected(
        "non_utf8_name", _codes("non_utf8_name"), mime=JPEG, image_format="JPEG"
    ),
    # things that are not regular files
    "loop_a": Expected("symlink_loop_a", _codes("symlink_loop")),
    "loop_b": Expected("symlink_loop_b", _codes("symlink_loop")),
    "dangling.jpg": Expected("broken_symlink", _codes("broken_symlink")),
    "dir_link": Expected("symlink_dir", _codes("symlink_dir_not_followed")),
    "pipe.jpg": Expected("fifo", _codes("not_regular_file")),
    # archives
    "bomb.zip": Expected("zip_bomb_archive", mime=ZIP),
    "bomb.zip!/zeros.bin": Expected("zip_bomb", _codes("zip_bomb")),
    "evil.zip": Expected("unsafe_zip_archive", mime=ZIP),
    "evil.zip!/../evil.jpg": Expected(
        "unsafe_member_path", _codes("unsafe_member_path"), mime=JPEG, image_format="JPEG"
    ),
    "encrypted.zip": Expected("encrypted_zip_archive", mime=ZIP),
    "encrypted.zip!/secret.jpg": Expected("encrypted_member", _codes("encrypted_member")),
    "encrypted.zip!/plain.txt": Expected("encrypted_zip_plain_member", mime="text/plain"),
    "truncated.zip": Expected("corrupt_archive", _codes("corrupt_archive"), mime=ZIP),
    "outer.zip": Expected("nested_zip_outer", mime=ZIP),
    "outer.zip!/inner.zip": Expected("nested_zip_inner", mime=ZIP),
    "outer.zip!/inner.zip!/x.jpg": Expected("nested_zip_image", mime=JPEG, image_format="JPEG"),
    **_deep_chain_entries(),
    # the too-deep archive's own bytes, at the top: depth belongs to a place, not to bytes
    "shallow_copy.zip": Expected("deep_archive_copy_at_top", mime=ZIP),
    "shallow_copy.zip!/bottom.jpg": Expected(
        "deep_archive_copy_member", mime=JPEG, image_format="JPEG"
    ),
    # a central directory asking for zip version 6.4: zipfile refuses it while listing
    "unsupported.zip": Expected("unsupported_archive", _codes("unsupported_archive"), mime=ZIP),
    # two members of one name: both recorded, each read back
    "same_names.zip": Expected("duplicate_names_archive", mime=ZIP),
    "same_names.zip!/IMG_1.jpg": Expected(
        "duplicate_member_first", _codes("duplicate_member_name"), mime=JPEG, image_format="JPEG"
    ),
    "same_names.zip!/IMG_1.jpg (duplicate 2)": Expected(
        "duplicate_member_second", _codes("duplicate_member_name"), mime=JPEG, image_format="JPEG"
    ),
    # a zip appended to a JPEG: an image, and an archive
    "cover.jpg": Expected(
        "zip_appended_to_jpeg", _codes("archive_in_file"), mime=JPEG, image_format="JPEG"
    ),
    "cover.jpg!/hidden.jpg": Expected("zip_appended_member", mime=JPEG, image_format="JPEG"),
    # a link out of the evidence: recorded, never read
    "outside_link.txt": Expected("symlink_outside_source", _codes("symlink_outside_source")),
}


# -- encoding ------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# -- hand-built files ------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid, tiny PNG whose header asks for width x height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def corrupt_png(width: int = 64, height: int = 64) -> bytes:
    """A PNG whose chunks and CRCs are all valid but whose pixel data is not a zlib stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", b"these bytes were never deflated " * 8)
        + _png_chunk(b"IEND", b"")
    )


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2024, 5, 1, 12, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def mark_encrypted(zip_data: bytes, member: str) -> bytes:
    """Set the 'encrypted' flag (bit 0) of ``member`` in its local and central headers.

    zipfile cannot write encrypted archives; a scan never decrypts, so the flag is all it sees.
    """
    data = bytearray(zip_data)
    name = member.encode()
    patched = 0
    # (signature, offset of the flags, offset of the name length, offset of the name)
    for signature, flags_at, name_len_at, name_at in (
        (b"PK\x03\x04", 6, 26, 30),  # local file header
        (b"PK\x01\x02", 8, 28, 46),  # central directory header
    ):
        pos = data.find(signature)
        while pos >= 0:
            (name_len,) = struct.unpack_from("<H", data, pos + name_len_at)
            if bytes(data[pos + name_at : pos + name_at + name_len]) == name:
                (flags,) = struct.unpack_from("<H", data, pos + flags_at)
                struct.pack_into("<H", data, pos + flags_at, flags | 0x1)
                patched += 1
            pos = data.find(signature, pos + 4)
    if patched != 2:
        raise ValueError(f"member {member!r}: patched {patched} headers, expected 2")
    return bytes(data)


def zip_bomb_bytes() -> bytes:
    """One member of zeros, large enough and compressible enough to trip the ratio limit."""
    size = 4 * RATIO_FLOOR_BYTES  # 64 MiB
    data = zip_bytes({"zeros.bin": bytes(size)})
    assert size > MAX_RATIO * len(data), "the bomb must expand more than MAX_RATIO times"
    return data


# -- the corpus ------------------------------------------------------------------------------


def build_corpus(root: Path) -> dict[str, Expected]:
    """Write every corpus file under ``root`` (which must exist) and return the manifest."""
    photo = encode(photo_like(1, 320, 240), "JPEG", quality=90)
    _write(root / "good/photo.jpg", photo)
    _write(root / "good/drawing.png", encode(photo_like(2, 200, 150), "PNG"))
    _write(root / "good/notes.txt", b"Examiner notes: nothing to see here.\nSecond line.\n")
    _write(root / "good/report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n")
    os.symlink("good/photo.jpg", root / "link_to_photo.jpg")
    _write(root / SEAM_UNREADABLE, encode(photo_like(3, 160, 120), "JPEG"))

    _write_modes(root / "modes")

    _write(root / "empty.jpg", b"")
    big = encode(photo_like(4, 400, 300), "JPEG", quality=95)
    _write(root / "truncated.jpg", big[: len(big) // 2])
    png = encode(photo_like(5, 300, 200), "PNG")
    _write(root / "truncated.png", png[: len(png) // 2])
    _write(root / "png_named.jpg", encode(photo_like(6, 180, 120), "PNG"))
    garbage = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    _write(root / "garbage.jpg", b"\x00\xff" + garbage)  # no signature, not text
    _write(root / "bomb.png", decompression_bomb_png())
    _write(root / "corrupt.png", corrupt_png())
    _write(root / "flat.png", encode(Image.new("RGB", (128, 96), (120, 120, 120)), "PNG"))
    fd = os.open(os.fsencode(root) + b"/caf\xe9.jpg", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(encode(photo_like(8, 150, 150), "JPEG"))

    os.symlink("loop_b", root / "loop_a")
    os.symlink("loop_a", root / "loop_b")
    os.symlink("no_such_file.jpg", root / "dangling.jpg")
    os.symlink("good", root / "dir_link", target_is_directory=True)
    os.symlink(os.devnull, root / "outside_link.txt")
    os.mkfifo(root / "pipe.jpg")

    _write_archives(root)
    return dict(EXPECTED)


def _write_modes(folder: Path) -> None:
    _write(folder / "cmyk.jpg", encode(photo_like(10, 200, 160).convert("CMYK"), "JPEG"))

    gray = np.asarray(photo_like(11, 200, 160).convert("L"), dtype=np.uint16) * 257
    img16 = Image.fromarray(gray.astype(np.uint16))  # mode I;16
    _write(folder / "gray16.png", encode(img16, "PNG"))

    pal = photo_like(12, 200, 160).quantize(colors=64)
    _write(folder / "palette_transparent.png", encode(pal, "PNG", transparency=0))

    rgba = photo_like(13, 200, 160).convert("RGBA")
    alpha = Image.linear_gradient("L").resize(rgba.size)
    rgba.putalpha(alpha.point(lambda v: 64 + v * 3 // 4))
    _write(folder / "rgba.png", encode(rgba, "PNG"))

    frames = [photo_like(20 + i, 120, 90) for i in range(3)]
    _write(
        folder / "animated.gif",
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
    )

    # stored landscape, displayed portrait: orientation 6 means "rotate 90 degrees clockwise"
    stored = photo_like(14, *ROTATED_STORED_SIZE)
    exif = Image.Exif()
    exif[0x0112] = 6
    _write(folder / "rotated.jpg", encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    upright = stored.transpose(Image.Transpose.ROTATE_270)
    _write(folder / "upright.jpg", encode(upright, "JPEG", quality=95))

    import pillow_heif

    pillow_heif.register_heif_opener()
    _write(folder / "phone.heic", encode(photo_like(15, 256, 192), "HEIF"))


def _write_archives(root: Path) -> None:
    _write(root / "bomb.zip", zip_bomb_bytes())

    evil_jpeg = encode(photo_like(30, 128, 96), "JPEG")
    _write(root / "evil.zip", zip_bytes({"../evil.jpg": evil_jpeg}))

    secret = encode(photo_like(31, 128, 96), "JPEG")
    plain = zip_bytes({"secret.jpg": secret, "plain.txt": b"not secret\n"}, zipfile.ZIP_STORED)
    _write(root / "encrypted.zip", mark_encrypted(plain, "secret.jpg"))

    whole = zip_bytes({"a.jpg": encode(photo_like(32, 160, 120), "JPEG")})
    _write(root / "truncated.zip", whole[: len(whole) // 2])

    inner = zip_bytes({"x.jpg": encode(photo_like(33, 128, 128), "JPEG")})
    _write(root / "outer.zip", zip_bytes({"inner.zip": inner}))

    # deep.zip!/d1.zip!/.../dN.zip!/bottom.jpg: dN is where listing stops (N = max depth)
    bottom = zip_bytes({"bottom.jpg": encode(photo_like(34, 96, 96), "JPEG")})
    level = bottom
    for depth in range(MAX_ARCHIVE_DEPTH - 1, 0, -1):
        level = zip_bytes({f"d{depth + 1}.zip": level})
    _write(root / "deep.zip", zip_bytes({"d1.zip": level}))
    _write(root / "shallow_copy.zip", bottom)

    v64 = bytearray(zip_bytes({"a.txt": b"a\n"}))
    struct.pack_into("<H", v64, v64.index(b"PK\x01\x02") + 6, 64)  # version needed: 6.4
    _write(root / "unsupported.zip", bytes(v64))

    twins = io.BytesIO()
    with zipfile.ZipFile(twins, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of this archive
        zf.writestr("IMG_1.jpg", encode(photo_like(35, 96, 72), "JPEG"))
        zf.writestr("IMG_1.jpg", encode(photo_like(36, 96, 72), "JPEG"))
    _write(root / "same_names.zip", twins.getvalue())

    hidden = zip_bytes({"hidden.jpg": encode(photo_like(37, 96, 72), "JPEG")})
    _write(root / "cover.jpg", encode(photo_like(38, 160, 120), "JPEG") + hidden)
