"""Hash an uploaded image the way a scan hashes a file: SHA-256, MD5, PDQ and its 8 variants.

Why the scan's own path and not a second one: a platform's lookup must meet the hashes a case
exported (``consentry report --format hashpack``) and the hashes of a victim's pack bit for bit.
So the upload is decoded by ``media.decode.decode_image`` (EXIF orientation applied, shrunk to
the 512 px PDQ is defined on, the same pixel and byte limits that protect a scan worker) and
hashed by ``analyzers.pdq.pdq_of_rgb`` with its dihedral variants, exactly as
``scan.worker`` does.

The upload is never written anywhere: the bytes live in memory for the call and only the
hashes leave it (``HashedUpload``). Refusals are ``MatchServiceError`` with a stable code:

- ``BAD_CONTENT_TYPE``: a content type was given and it is not an image (``image/*``);
  ``application/octet-stream`` (what many clients send for "a file") counts as not given.
- ``TOO_LARGE``: more than ``MAX_UPLOAD_BYTES`` bytes, a declared size over the decoder's
  pixel limit (``MAX_IMAGE_PIXELS``, a decompression bomb) or a decode over its byte budget.
- ``BAD_IMAGE``: empty, not an image, truncated, corrupt or a variant no decoder here reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from consentry.analyzers import crypto_hashes, pdq
from consentry.media.decode import ANALYSIS_SIDE, MAX_IMAGE_PIXELS, DecodedImage, decode_image
from consentry.records.problems import Code, ItemError
from consentry.records.text_safety import control_escaped
from consentry.scan.worker import MAX_IN_MEMORY_BYTES
from consentry.services.matching.types import HashedUpload, MatchErrorCode, MatchServiceError

# The most bytes one upload may have: what a scan worker decodes in memory (larger files a scan
# only hashes). The HTTP shell refuses bodies over the caller's own, smaller, limit before this.
MAX_UPLOAD_BYTES = MAX_IN_MEMORY_BYTES

# Content types that say nothing about the bytes: treated as not given (the bytes are sniffed
# by the decoder).
_UNSPECIFIED_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})

# Decodes at once in one process. Each may hold up to the decoder's byte budget (1 GiB, see
# media.decode) at its peak, and the HTTP shell runs requests on a pool of dozens of threads:
# without a bound, a burst of large PNGs would multiply that. Two: the machine's cores, and
# what keeps a worker's worst case near 2 GiB on top of its index.
DECODE_SLOTS = 2
_decode_slots = threading.BoundedSemaphore(DECODE_SLOTS)

# Decoder codes that mean "too big", not "not an image".
_TOO_LARGE_CODES = frozenset({Code.DECOMPRESSION_BOMB, Code.TOO_LARGE_FOR_ANALYSIS})


@dataclass(frozen=True)
class DecodedUpload:
    """An upload's hashes and its decoded picture (screening and packs analyse the picture;
    only ``hashes`` ever leaves the service)."""

    hashes: HashedUpload
    image: DecodedImage


def check_content_type(content_type: str | None) -> None:
    """BAD_CONTENT_TYPE unless ``content_type`` is absent, unspecific or ``image/*``."""
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not media_type or media_type in _UNSPECIFIED_TYPES or media_type.startswith("image/"):
        return
    raise MatchServiceError(
        MatchErrorCode.BAD_CONTENT_TYPE,
        f"content type {media_type[:100]!r} is not an image (send image/jpeg, image/png, ...)",
    )


def decode_upload(
    data: bytes, content_type: str | None = None, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> DecodedUpload:
    """Hash and decode ``data`` (see the module docstring for what is refused, and why)."""
    check_content_type(content_type)
    if len(data) > max_bytes:
        raise MatchServiceError(
            MatchErrorCode.TOO_LARGE, f"upload is {len(data):,} bytes, over {max_bytes:,}"
        )
    if not data:
        raise MatchServiceError(MatchErrorCode.BAD_IMAGE, "upload is empty (0 bytes)")
    try:
        with _decode_slots:
            image = decode_image(data, ANALYSIS_SIDE)
    except ItemError as exc:
        if exc.code in _TOO_LARGE_CODES:
            raise MatchServiceError(
                MatchErrorCode.TOO_LARGE,
                control_escaped(
                    f"image too large to decode ({exc.code.value}; limit {MAX_IMAGE_PIXELS:,} "
                    f"pixels): {exc.message}"
                )[:300],
            ) from None
        raise MatchServiceError(
            MatchErrorCode.BAD_IMAGE,
            control_escaped(f"not a usable image ({exc.code.value}): {exc.message}")[:300],
        ) from None
    crypto = crypto_hashes.hash_bytes(data)
    finding = pdq.pdq_of_rgb(image.rgb, dihedral=True)
    hashes = HashedUpload(
        sha256=crypto.sha256,
        md5=crypto.md5,
        pdq=finding.hex,
        pdq_quality=finding.quality,
        pdq_dihedral=finding.dihedral,
        width=image.width,
        height=image.height,
    )
    return DecodedUpload(hashes, image)


def hash_image(
    data: bytes, content_type: str | None = None, *, max_bytes: int = MAX_UPLOAD_BYTES
) -> HashedUpload:
    """SHA-256, MD5, PDQ (+ quality) and the 8 dihedral PDQ variants of an uploaded image.

    ``pdq_dihedral[0]`` is ``pdq`` (the image as displayed). A PDQ of quality under
    ``pdq.MIN_QUALITY`` is returned as computed: the caller decides not to match on it (the
    service's ``parse_signal`` refuses it as a query or a bank entry)."""
    return decode_upload(data, content_type, max_bytes=max_bytes).hashes


__all__ = [
    "DECODE_SLOTS",
    "MAX_UPLOAD_BYTES",
    "DecodedUpload",
    "check_content_type",
    "decode_upload",
    "hash_image",
]
