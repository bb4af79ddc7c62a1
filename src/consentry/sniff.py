"""Detect a file's type from its first bytes, never from its name.

A small signature table is enough for triage: images (what every analyzer wants), archives
(which we open), and the common document/video types so an inventory says what a file is.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_BYTES = 64  # every signature below fits in the first 64 bytes


@dataclass(frozen=True)
class FileType:
    mime: str
    is_image: bool = False
    is_archive: bool = False


UNKNOWN = FileType("application/octet-stream")
EMPTY = FileType("application/x-empty")

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

_PREFIXES: list[tuple[bytes, FileType]] = [
    (b"\xff\xd8\xff", FileType("image/jpeg", is_image=True)),
    (b"\x89PNG\r\n\x1a\n", FileType("image/png", is_image=True)),
    (b"GIF87a", FileType("image/gif", is_image=True)),
    (b"GIF89a", FileType("image/gif", is_image=True)),
    (b"BM", FileType("image/bmp", is_image=True)),
    (b"II*\x00", FileType("image/tiff", is_image=True)),
    (b"MM\x00*", FileType("image/tiff", is_image=True)),
    (b"\x00\x00\x01\x00", FileType("image/x-icon", is_image=True)),
    (b"PK\x03\x04", FileType("application/zip", is_archive=True)),
    (b"PK\x05\x06", FileType("application/zip", is_archive=True)),  # empty zip
    (b"%PDF-", FileType("application/pdf")),
    (b"\x1f\x8b", FileType("application/gzip")),
    (b"7z\xbc\xaf\x27\x1c", FileType("application/x-7z-compressed")),
    (b"Rar!\x1a\x07", FileType("application/vnd.rar")),
    (b"\x1a\x45\xdf\xa3", FileType("video/webm")),
    (b"SQLite format 3\x00", FileType("application/vnd.sqlite3")),
    (b"P5", FileType("image/x-portable-graymap", is_image=True)),
    (b"P6", FileType("image/x-portable-pixmap", is_image=True)),
]


def sniff(head: bytes) -> FileType:
    """Return the type of a file whose first bytes are ``head``."""
    if not head:
        return EMPTY
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileType("image/webp", is_image=True)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return FileType("video/x-msvideo")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return FileType("image/heic", is_image=True)
        if brand in _AVIF_BRANDS:
            return FileType("image/avif", is_image=True)
        if brand == b"qt  ":
            return FileType("video/quicktime")
        return FileType("video/mp4")
    for prefix, ftype in _PREFIXES:
        if head.startswith(prefix):
            return ftype
    if _looks_like_text(head):
        return FileType("text/plain")
    return UNKNOWN


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character cut at the end of the sample is still text
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return b"\x00" not in head


IMAGE_EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heic",
    ".avif": "image/avif",
}


def expected_mime(name: str) -> str | None:
    """The image type a file name claims, if any (used only to flag disagreement)."""
    dot = name.rfind(".")
    if dot < 0:
        return None
    return IMAGE_EXTENSIONS.get(name[dot:].lower())
