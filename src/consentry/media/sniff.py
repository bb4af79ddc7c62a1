"""Detect a file's type from its first bytes, never from its name.

A small signature table is enough for triage: images (what every analyzer wants), archives
(which we open), and the common document/video types so an inventory says what a file is.

Every image format the installed Pillow (plus pillow-heif) decodes and that has a signature is
listed here, so that no decodable picture is inventoried as a plain file. A few image formats
have no signature at all (TGA, PCX, DIB, XBM, ...): for those the name decides whether the decoder
is asked (``decode_by_name``), and the decoder's answer decides whether it is an image. Image
types that are recognised but not decoded (JPEG XL, SVG, PAM, colour PFM, Windows metafiles)
carry ``not_decoded``, the reason the scan records with ``unsupported_image_format``.
"""

from __future__ import annotations

from dataclasses import dataclass

# every signature below fits in the first 512 bytes (an SVG's <svg> tag may follow an XML
# declaration, a comment and a DOCTYPE)
HEAD_BYTES = 512


@dataclass(frozen=True)
class FileType:
    mime: str
    is_image: bool = False
    is_archive: bool = False
    # an image type that is recognised but not decoded here: why (None: decode it)
    not_decoded: str | None = None

    @property
    def is_video(self) -> bool:
        """MP4, MOV, WebM/MKV, AVI: decoded frame by frame (see analyzers.video)."""
        return self.mime.startswith("video/")


UNKNOWN = FileType("application/octet-stream")
EMPTY = FileType("application/x-empty")
TEXT = FileType("text/plain")

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

_NO_JXL = "JPEG XL: no JPEG XL decoder in this installation; not analysed"
_SVG = FileType(
    "image/svg+xml",
    is_image=True,
    not_decoded=(
        "SVG is a vector document and is not rasterised; it can embed raster images and C2PA "
        "data: examine it separately"
    ),
)
_PAM = FileType(
    "image/x-portable-arbitrarymap",
    is_image=True,
    not_decoded="PAM (P7) image: the installed decoder does not read it; not analysed",
)
_PFM_COLOUR = FileType(
    "image/x-portable-floatmap",
    is_image=True,
    not_decoded="colour PFM (PF) image: the installed decoder does not read it; not analysed",
)
_METAFILE = "Windows metafile: vector graphics, not rasterised on this platform; not analysed"


def _image(mime: str) -> FileType:
    return FileType(mime, is_image=True)


_PREFIXES: list[tuple[bytes, FileType]] = [
    (b"\xff\xd8\xff", _image("image/jpeg")),
    (b"\x89PNG\r\n\x1a\n", _image("image/png")),
    (b"GIF87a", _image("image/gif")),
    (b"GIF89a", _image("image/gif")),
    (b"BM", _image("image/bmp")),
    (b"II*\x00", _image("image/tiff")),
    (b"MM\x00*", _image("image/tiff")),
    (b"\x00\x00\x01\x00", _image("image/x-icon")),
    (b"8BPS", _image("image/vnd.adobe.photoshop")),
    (b"DDS ", _image("image/vnd-ms.dds")),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", _image("image/jp2")),
    (b"\xff\x4f\xff\x51", _image("image/x-jp2-codestream")),
    (b"BLP1", _image("image/x-blp")),
    (b"BLP2", _image("image/x-blp")),
    (b"qoif", _image("image/qoi")),
    (b"icns", _image("image/icns")),
    (b"SIMPLE  =", _image("image/fits")),
    (b"/* XPM */", _image("image/xpm")),
    (b"DanM", _image("image/x-msp")),
    (b"LinS", _image("image/x-msp")),
    (b"\x59\xa6\x6a\x95", _image("image/x-sun-raster")),
    (b"FTEX", _image("image/x-ftex")),
    (b"\xb1\x68\xde\x3a", _image("image/x-dcx")),
    (b"\x80\xe8\x00\x00", _image("image/x-pixar")),
    (b"P7 332", _image("image/x-xv-thumbnail")),
    (b"\xff\x0a", FileType("image/jxl", is_image=True, not_decoded=_NO_JXL)),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", FileType("image/jxl", is_image=True, not_decoded=_NO_JXL)),
    (b"\xd7\xcd\xc6\x9a", FileType("image/wmf", is_image=True, not_decoded=_METAFILE)),
    (b"PK\x03\x04", FileType("application/zip", is_archive=True)),
    (b"PK\x05\x06", FileType("application/zip", is_archive=True)),  # empty zip
    (b"%PDF-", FileType("application/pdf")),
    (b"%!PS-Adobe", FileType("application/postscript")),
    (b"\xc5\xd0\xd3\xc6", FileType("application/postscript")),  # DOS EPS with a preview
    (b"\x1f\x8b", FileType("application/gzip")),
    (b"7z\xbc\xaf\x27\x1c", FileType("application/x-7z-compressed")),
    (b"Rar!\x1a\x07", FileType("application/vnd.rar")),
    (b"\x1a\x45\xdf\xa3", FileType("video/webm")),
    (b"SQLite format 3\x00", FileType("application/vnd.sqlite3")),
]

# Netpbm: "P" + variant + whitespace (a text file starting "P5 ..." is not an image)
_NETPBM = {
    b"1": _image("image/x-portable-bitmap"),
    b"2": _image("image/x-portable-graymap"),
    b"3": _image("image/x-portable-pixmap"),
    b"4": _image("image/x-portable-bitmap"),
    b"5": _image("image/x-portable-graymap"),
    b"6": _image("image/x-portable-pixmap"),
    b"7": _PAM,
    b"f": _image("image/x-portable-floatmap"),
    b"F": _PFM_COLOUR,
}
_WHITESPACE = b" \t\r\n"


def sniff(head: bytes) -> FileType:
    """Return the type of a file whose first bytes are ``head``."""
    if not head:
        return EMPTY
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _image("image/webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return FileType("video/x-msvideo")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return _image("image/heic")
        if brand in _AVIF_BRANDS:
            return _image("image/avif")
        if brand == b"jxl ":
            return FileType("image/jxl", is_image=True, not_decoded=_NO_JXL)
        if brand == b"qt  ":
            return FileType("video/quicktime")
        return FileType("video/mp4")
    for prefix, ftype in _PREFIXES:
        if head.startswith(prefix):
            return ftype
    if _is_netpbm(head):
        return _NETPBM[head[1:2]]
    if _is_cur(head):
        return _image("image/x-win-cursor")
    if _is_sgi(head):
        return _image("image/sgi")
    if _is_fli(head):
        return _image("image/flic")
    if head[:4] == b"\x01\x00\x00\x00" and head[40:44] == b" EMF":
        return FileType("image/emf", is_image=True, not_decoded=_METAFILE)
    if _looks_like_text(head):
        return _SVG if _is_svg(head) else TEXT
    return UNKNOWN


def _is_netpbm(head: bytes) -> bool:
    # "P" + variant, whitespace, then a number (PAM: a header keyword) or a "#" comment
    if head[:1] != b"P" or head[1:2] not in _NETPBM or head[2:3] not in (b" ", b"\t", b"\r", b"\n"):
        return False
    rest = head[2:].lstrip(_WHITESPACE)[:1]
    return rest == b"#" or (rest.isupper() if head[1:2] == b"7" else rest.isdigit())


def _is_cur(head: bytes) -> bool:
    # Windows cursor: reserved 0, type 2, 1+ entries, the first one's reserved byte 0 and its
    # data after the directory (an uncompressed TGA also starts 00 00 02 00, with count 0)
    if len(head) < 22 or head[:4] != b"\x00\x00\x02\x00":
        return False
    count = int.from_bytes(head[4:6], "little")
    offset = int.from_bytes(head[18:22], "little")
    return count >= 1 and head[9] == 0 and offset >= 6 + 16 * count


def _is_sgi(head: bytes) -> bool:
    # magic 474, storage 0 (verbatim) or 1 (RLE), 1 or 2 bytes per channel
    return len(head) >= 4 and head[:2] == b"\x01\xda" and head[2] in (0, 1) and head[3] in (1, 2)


def _is_fli(head: bytes) -> bool:
    # FLI/FLC animation: magic 0xAF11/0xAF12 at offset 4, flags 0 or 3 (as Pillow checks)
    return (
        len(head) >= 16
        and head[4:6] in (b"\x11\xaf", b"\x12\xaf")
        and head[14:16]
        in (
            b"\x00\x00",
            b"\x03\x00",
        )
    )


def _is_svg(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf" + _WHITESPACE)
    if not start.startswith(b"<"):
        return False
    lowered = start.lower()
    at = lowered.find(b"<svg")
    return at >= 0 and b"<html" not in lowered[:at]


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


# What a file name claims. Only used to flag disagreement with the content, and to ask the
# decoder about content without a signature (``decode_by_name``). Documents and videos that
# Pillow can identify but not decode (PDF, EPS, MPEG, HDF5, GRIB, BUFR) are not listed.
IMAGE_EXTENSIONS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".mpo": "image/jpeg",
    ".png": "image/png",
    ".apng": "image/png",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heic",
    ".avif": "image/avif",
    ".avifs": "image/avif",
    ".ico": "image/x-icon",
    ".cur": "image/x-win-cursor",
    ".psd": "image/vnd.adobe.photoshop",
    ".dds": "image/vnd-ms.dds",
    ".jp2": "image/jp2",
    ".jpf": "image/jp2",
    ".jpx": "image/jp2",
    ".j2k": "image/x-jp2-codestream",
    ".j2c": "image/x-jp2-codestream",
    ".jpc": "image/x-jp2-codestream",
    ".blp": "image/x-blp",
    ".qoi": "image/qoi",
    ".icns": "image/icns",
    ".fit": "image/fits",
    ".fits": "image/fits",
    ".xpm": "image/xpm",
    ".msp": "image/x-msp",
    ".ras": "image/x-sun-raster",
    ".ftc": "image/x-ftex",
    ".ftu": "image/x-ftex",
    ".dcx": "image/x-dcx",
    ".pxr": "image/x-pixar",
    ".pbm": "image/x-portable-bitmap",
    ".pgm": "image/x-portable-graymap",
    ".ppm": "image/x-portable-pixmap",
    ".pam": "image/x-portable-arbitrarymap",
    ".pfm": "image/x-portable-floatmap",
    ".sgi": "image/sgi",
    ".rgb": "image/sgi",
    ".rgba": "image/sgi",
    ".bw": "image/sgi",
    ".fli": "image/flic",
    ".flc": "image/flic",
    ".jxl": "image/jxl",
    ".svg": "image/svg+xml",
    ".wmf": "image/wmf",
    ".emf": "image/emf",
    # no signature: the decoder is asked when the name says so (decode_by_name)
    ".tga": "image/x-tga",
    ".icb": "image/x-tga",
    ".vda": "image/x-tga",
    ".vst": "image/x-tga",
    ".pcx": "image/x-pcx",
    ".dib": "image/bmp",
    ".xbm": "image/xbm",
    ".gbr": "image/x-gimp-brush",
    ".im": "image/x-pil-im",
    ".pcd": "image/x-photo-cd",
    ".spi": "image/x-spider",
}

# The MIME type recorded for content only the decoder could identify (no signature above).
PILLOW_FORMAT_MIME = {
    "TGA": "image/x-tga",
    "PCX": "image/x-pcx",
    "DIB": "image/bmp",
    "XBM": "image/xbm",
    "GBR": "image/x-gimp-brush",
    "IM": "image/x-pil-im",
    "PCD": "image/x-photo-cd",
    "SPIDER": "image/x-spider",
    "MCIDAS": "image/x-mcidas",
    "IPTC": "image/x-iptc",
    "IMT": "image/x-imt",
}


def mime_of_decoded(pillow_format: str) -> str:
    """The MIME type of content that only the decoder identified (it has no signature)."""
    return PILLOW_FORMAT_MIME.get(pillow_format, f"image/x-{pillow_format.lower()}")


# Image formats whose files are text (XBM is C source; IM starts "Image type:"): a file sniffed
# as text but named like one of these is given to the decoder too.
_TEXT_IMAGE_EXTENSIONS = {".xbm", ".im"}


def _extension(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot >= 0 else ""


def expected_mime(name: str) -> str | None:
    """The image type a file name claims, if any (used only to flag disagreement)."""
    return IMAGE_EXTENSIONS.get(_extension(name))


def decode_by_name(name: str, ftype: FileType) -> bool:
    """Whether content without a known image signature should still go to the decoder.

    Some image formats have no signature (TGA, PCX, DIB) or are text (XBM): when the name claims
    an image type, the decoder's opinion decides. Nothing else is decoded on its name alone."""
    if ftype.is_image or expected_mime(name) is None:
        return False
    return ftype is UNKNOWN or (ftype == TEXT and _extension(name) in _TEXT_IMAGE_EXTENSIONS)
