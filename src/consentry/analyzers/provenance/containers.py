"""The metadata containers image files carry, read from the bytes without decoding pixels.

- **PNG text chunks** (``tEXt``, ``zTXt``, ``iTXt``), walked here so chunks after the image data
  count too, and PNG's ``eXIf`` chunk.
- **EXIF** ``ImageDescription``, ``Make``, ``Model``, ``Software`` and, from the Exif IFD,
  ``UserComment`` (charset header decoded) and ``MakerNote``.
- **JPEG comment** (``COM``).
- **XMP** packets anywhere in the file, and in them (IPTC Extension) ``DigitalSourceType`` codes
  such as ``trainedAlgorithmicMedia`` and ``CreatorTool``. XMP is read with regular expressions
  over the packet, not an XML parser: nothing here expands entities, so a hostile packet cannot
  blow up memory.

What the text *says* (which generator wrote it) is the generator parsers' job (``generators/``);
how much it counts, the verdict policy's (``policy``). Sizes are bounded (decompressed chunk text
per chunk and per file, XMP packet bytes) so that a hostile file cannot make the scan allocate
without limit; readers never raise on bad input: what cannot be read becomes a ``problems`` entry.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any

from consentry.analyzers.provenance.fields import clip
from consentry.media.decode import PNG_TEXT_CHUNK_BYTES, PNG_TEXT_FILE_BYTES

# --- limits ----------------------------------------------------------------------------------
# decompressed bytes kept from one PNG text chunk / stealth payload, and from all of a file's text
# chunks: the limits the decoder applies too (imaging), so a PNG over them is also marked
# ``metadata_too_large`` on its content. Without the per-file one, a 4 MB PNG of zlib-bomb zTXt
# chunks made the scan hold 4 GB of text.
MAX_CHUNK_TEXT = PNG_TEXT_CHUNK_BYTES
MAX_TEXT_PER_FILE = PNG_TEXT_FILE_BYTES
MAX_PNG_CHUNKS = 100_000  # a PNG with more chunks than this is hostile; stop walking
MAX_XMP = 1 << 20  # bytes of one XMP packet examined

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- PNG chunks ------------------------------------------------------------------------------
def png_text_chunks(data: bytes) -> tuple[list[tuple[str, str]], bytes | None, list[str]]:
    """(keyword, text) of every tEXt/zTXt/iTXt chunk, the eXIf chunk, and problems met."""
    out: list[tuple[str, str]] = []
    problems: list[str] = []
    exif: bytes | None = None
    pos = len(PNG_SIGNATURE)
    budget = MAX_TEXT_PER_FILE  # decompressed text bytes still to be kept from this file
    over_budget = False
    for _ in range(MAX_PNG_CHUNKS):
        if pos + 8 > len(data):
            problems.append("png: file ends before IEND")
            break
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) < length:
            problems.append(f"png: {ctype!r} chunk truncated")
            break
        pos += 12 + length
        if ctype in (b"tEXt", b"zTXt", b"iTXt") and budget <= 0:
            over_budget = True  # said once below; not inflated
            continue
        try:
            if ctype == b"tEXt":
                key, _, value = body.partition(b"\x00")
                over_budget |= len(value) > budget
                value = value[:budget]
                budget -= len(value)
                out.append((key.decode("latin-1"), value.decode("latin-1")))
            elif ctype == b"zTXt":
                key, _, rest = body.partition(b"\x00")
                raw = inflate(rest[1:], limit=min(MAX_CHUNK_TEXT, budget + 1))
                over_budget |= len(raw) > budget
                raw = raw[:budget]
                budget -= len(raw)
                out.append((key.decode("latin-1"), raw.decode("latin-1")))
            elif ctype == b"iTXt":
                key, _, rest = body.partition(b"\x00")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\x00")
                _translated, _, text = rest.partition(b"\x00")
                raw = inflate(text, limit=min(MAX_CHUNK_TEXT, budget + 1)) if compressed else text
                over_budget |= len(raw) > budget
                raw = raw[:budget]
                budget -= len(raw)
                out.append((key.decode("latin-1"), raw.decode("utf-8", "replace")))
            elif ctype == b"eXIf":
                exif = body
            elif ctype == b"IEND":
                break
        except (zlib.error, IndexError, ValueError) as exc:
            problems.append(f"png: unreadable {ctype.decode('latin-1')} chunk: {exc}")
    if over_budget:
        problems.append(
            f"png: text chunks exceed {MAX_TEXT_PER_FILE:,} bytes (metadata_too_large): "
            "the rest was not read"
        )
    return out, exif, problems


def inflate(raw: bytes, gzip: bool = False, limit: int = MAX_CHUNK_TEXT) -> bytes:
    """Decompress at most ``limit`` bytes (a zlib bomb stops there)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
    return inflater.decompress(raw, max(1, limit))


# --- EXIF, JPEG comment, XMP -----------------------------------------------------------------
_EXIF_TAGS = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0131: "Software"}
_EXIF_IFD_TAGS = {0x9286: "UserComment", 0x927C: "MakerNote"}


def read_exif(data: bytes, png_exif: bytes | None, problems: list[str]) -> dict[str, str]:
    from PIL import Image

    out: dict[str, str] = {}
    try:
        if data.startswith(PNG_SIGNATURE):
            if png_exif is None:
                return out
            exif = Image.Exif()
            exif.load(png_exif)
        else:
            with Image.open(io.BytesIO(data)) as img:  # header only: no pixels decoded
                exif = img.getexif()
        values: list[tuple[str, Any]] = [
            (name, exif.get(tag)) for tag, name in _EXIF_TAGS.items() if tag in exif
        ]
        ifd = exif.get_ifd(0x8769)
        values += [(name, ifd.get(tag)) for tag, name in _EXIF_IFD_TAGS.items() if tag in ifd]
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on broken EXIF
        problems.append(f"exif: unreadable: {type(exc).__name__}: {exc}")
        return out
    for name, value in values:
        text = _exif_text(value) if name in ("UserComment", "MakerNote") else value
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str):
            out[name] = text.strip("\x00 ")
    return out


def _exif_text(value: Any) -> str | None:
    """EXIF UserComment: an 8-byte charset header, then the text (UTF-16 for UNICODE)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        return None
    head, body = value[:8], value[8:]
    if head == b"UNICODE\x00":
        # byte order is not stated; piexif (AUTOMATIC1111) writes big-endian. Pick the decoding
        # that yields the more plausible (ASCII-range) text.
        candidates = [body.decode(enc, "replace") for enc in ("utf-16-be", "utf-16-le")]
        return max(candidates, key=lambda s: sum(32 <= ord(c) < 127 for c in s))
    if head in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.decode("utf-8", "replace")
    return value.decode("utf-8", "replace")


def jpeg_comment(data: bytes) -> str | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            comment = img.info.get("comment")
    except Exception:  # noqa: BLE001
        return None
    if isinstance(comment, bytes):
        return comment.decode("utf-8", "replace")
    return comment if isinstance(comment, str) else None


def xmp_packets(data: bytes) -> list[str]:
    """Uncompressed XMP packets anywhere in the file (JPEG APP1, WebP, TIFF, HEIF, PNG iTXt)."""
    packets: list[str] = []
    start = data.find(b"<x:xmpmeta")
    while start != -1 and len(packets) < 8:
        end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP)
        stop = end + len(b"</x:xmpmeta>") if end != -1 else start + MAX_XMP
        packets.append(data[start:stop].decode("utf-8", "replace"))
        start = data.find(b"<x:xmpmeta", stop)
    return packets


_SOURCE_TYPE_URI = re.compile(r"digitalsourcetype/([A-Za-z]+)")
_SOURCE_TYPE_TEXT = re.compile(r"DigitalSourceType[^>]*>\s*([A-Za-z]+)\s*<")


def xmp_digital_source_types(packet: str) -> list[str]:
    """IPTC DigitalSourceType codes stated in an XMP packet (attribute, element or resource)."""
    found = []
    for match in re.finditer(r"DigitalSourceType", packet):
        window = packet[match.start() : match.start() + 400]
        if (uri := _SOURCE_TYPE_URI.search(window)) is not None:
            found.append(uri.group(1))
        elif (text := _SOURCE_TYPE_TEXT.match(window)) is not None:
            found.append(text.group(1))
    return found


def xmp_values(packet: str, name: str) -> list[str]:
    pattern = rf'(?:\w+:)?{name}\s*=\s*"([^"]*)"|<(?:\w+:)?{name}>([^<]*)<'
    return [clip(a or b) for a, b in re.findall(pattern, packet) if (a or b).strip()]
