"""Process one location: read its bytes once, hash them, decode the image once, analyse.

Runs in worker processes. Everything that crosses the process boundary is a dataclass; the
worker never touches the store, so a killed worker loses nothing that was committed.
"""

from __future__ import annotations

import io
import json
import os
from typing import BinaryIO

from consentry.analyzers import crypto_hashes, pdq
from consentry.analyzers.runner import analyse_image
from consentry.media import archives, locate
from consentry.media.decode import ANALYSIS_SIDE, decode_image
from consentry.media.reader import open_readonly, read_all
from consentry.media.sniff import (
    EMPTY,
    HEAD_BYTES,
    UNKNOWN,
    decode_by_name,
    expected_mime,
    mime_of_decoded,
    sniff,
)
from consentry.records.items import (
    ChildLocation,
    ContentRecord,
    WorkItem,
    WorkResult,
)
from consentry.records.locations import ARCHIVE_SEPARATOR, LocationRef, member_display
from consentry.records.problems import Code, ItemError, Problem

# Files larger than this are hashed as a stream and not decoded (a phone photo is < 50 MB; a
# larger "image" is either a bomb or not a photo). Archives of any size are listed from disk.
MAX_IN_MEMORY_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024


def process(item: WorkItem) -> WorkResult:
    """Never raises for a bad item: every failure becomes a Problem in the result."""
    result = WorkResult(item.location_id, reanalysis=item.needs is not None)
    try:
        if item.needs is not None:
            _reanalyse(_read_member_or_file(item.ref), item, result)
        elif item.ref.in_disk_image and len(item.ref.member_chain) == 1:
            _analyse_disk_file(item, result)
        elif item.ref.member_chain:
            _analyse_bytes(_read_member_or_file(item.ref), item, result)
        else:
            with open_readonly(item.ref.raw_path) as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_IN_MEMORY_BYTES:
                    _analyse_large_file(fh, item, result)
                else:
                    _analyse_bytes(read_all(fh), item, result)
    except ItemError as exc:
        result.location_problems.append(exc.problem())
    except MemoryError:
        result.location_problems.append(
            Problem(Code.TOO_LARGE_FOR_ANALYSIS, "out of memory while reading")
        )
    except Exception as exc:  # noqa: BLE001 - no file may stop a scan, whatever it triggers
        return internal_error_result(item, exc, partial=result)
    return result


def internal_error_result(
    item: WorkItem, exc: BaseException, partial: WorkResult | None = None
) -> WorkResult:
    """What an unexpected exception on one item becomes: that item's recorded problem (with
    the exception's type and where it was raised, for a bug report), never the scan's end.
    Hashes and archive members found before the failure are kept; findings are dropped (the
    image's analysis is all or nothing, so a later scan tries it again)."""
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
    message = f"{type(exc).__name__}{where}: {exc}"[:500]
    result = WorkResult(item.location_id, reanalysis=item.needs is not None)
    if partial is not None:
        result.content = partial.content
        result.children = partial.children
        result.location_problems = list(partial.location_problems)
        result.content_problems = list(partial.content_problems)
    result.location_problems.append(Problem(Code.INTERNAL_ERROR, message))
    return result


def _read_member_or_file(ref: LocationRef) -> bytes:
    # files, archive members and files in disk images, by their location (see media.locate)
    return locate.read_bytes(ref)


def _analyse_disk_file(item: WorkItem, result: WorkResult) -> None:
    """A file inside a disk image: read into memory like any file up to MAX_IN_MEMORY_BYTES,
    a larger one hashed as a stream from the image (never held whole)."""
    from consentry.media import disk  # pytsk3/pyewf load only when a disk image is met

    if disk.location_size(item.ref) <= MAX_IN_MEMORY_BYTES:
        _analyse_bytes(_read_member_or_file(item.ref), item, result)
        return
    with disk.open_stream(item.ref) as stream:
        _analyse_large_file(stream, item, result)


def _reanalyse(data: bytes, item: WorkItem, result: WorkResult) -> None:
    """Add the newly enabled analyzers' findings to content the store already has."""
    sha256 = crypto_hashes.hash_bytes(data).sha256
    if sha256 != item.expected_sha256:
        # the evidence changed since it was hashed: findings would describe other bytes
        raise ItemError(Code.SOURCE_CHANGED, f"content now hashes to {sha256}, not as recorded")
    image = decode_image(data, ANALYSIS_SIDE)
    assert item.needs is not None
    result.analysis = analyse_image(image, sha256, item.needs, item.known_label, data=data)


def _analyse_bytes(data: bytes, item: WorkItem, result: WorkResult) -> None:
    hashes = crypto_hashes.hash_bytes(data)
    ftype = sniff(data[:HEAD_BYTES])
    content = ContentRecord(hashes.sha256, hashes.md5, hashes.sha1, hashes.size, ftype.mime)
    result.content = content
    if ftype is EMPTY:
        result.content_problems.append(Problem(Code.EMPTY_FILE, "file is empty (0 bytes)"))
        return
    if ftype.not_decoded:
        result.content_problems.append(
            Problem(Code.UNSUPPORTED_IMAGE_FORMAT, f"{ftype.mime}: {ftype.not_decoded}")
        )
    elif ftype.is_video:
        _analyse_video(data, content, result)
    elif ftype.is_image or decode_by_name(item.ref.name, ftype):
        _analyse_image(data, content, result)
        if content.is_image and not ftype.is_image and content.image_format:
            # no signature (TGA, PCX, XBM, ...): the decoder identified it
            content.mime = mime_of_decoded(content.image_format)
    _check_name(item.ref.name, content.mime, result)
    if ftype.is_archive:
        _expand_archive(io.BytesIO(data), item, result)
    else:
        _expand_embedded(io.BytesIO(data), item, result)


def _analyse_large_file(stream: BinaryIO, item: WorkItem, result: WorkResult) -> None:
    ftype = sniff(stream.read(HEAD_BYTES))
    stream.seek(0)
    try:
        hashes = crypto_hashes.hash_chunks(iter(lambda: stream.read(CHUNK), b""))
    except OSError as exc:
        raise ItemError(Code.UNREADABLE, f"read failed: {exc.strerror or exc}") from None
    result.content = ContentRecord(hashes.sha256, hashes.md5, hashes.sha1, hashes.size, ftype.mime)
    _check_name(item.ref.name, ftype.mime, result)
    if ftype.is_image:
        result.content_problems.append(
            Problem(
                Code.TOO_LARGE_FOR_ANALYSIS,
                f"{hashes.size:,} bytes: hashed, not decoded (limit {MAX_IN_MEMORY_BYTES:,})",
            )
        )
    elif ftype.is_video:
        # a phone video is often 0.5-2 GB: decoded from the open file, not read into memory
        # (provenance, which reads the whole file's bytes, is not run on it)
        stream.seek(0)
        _analyse_video(stream, result.content, result)
    stream.seek(0)
    if ftype.is_archive:
        _expand_archive(stream, item, result)
    else:
        _expand_embedded(stream, item, result)


def _check_name(name: str, mime: str, result: WorkResult) -> None:
    claimed = expected_mime(name)
    if claimed and mime not in (claimed, EMPTY.mime) and mime != UNKNOWN.mime:
        result.location_problems.append(
            Problem(Code.WRONG_EXTENSION, f"name says {claimed}, content is {mime}")
        )


def _analyse_image(data: bytes, content: ContentRecord, result: WorkResult) -> None:
    try:
        image = decode_image(data, ANALYSIS_SIDE)
    except ItemError as exc:
        result.content_problems.append(exc.problem())
        return
    content.is_image = True
    content.image_format = image.format
    content.width, content.height = image.width, image.height
    content.color_mode = image.mode
    content.frames = image.frames
    content.orientation = image.orientation
    content.exif_json = json.dumps(image.exif, sort_keys=True, ensure_ascii=False) or None
    result.content_problems.extend(image.problems)
    finding = pdq.pdq_of_rgb(image.rgb, dihedral=True)
    content.pdq, content.pdq_quality = finding.hex, finding.quality
    content.pdq_dihedral = ",".join(finding.dihedral)
    result.analysis = analyse_image(image, content.sha256, data=data)
    if finding.quality < pdq.MIN_QUALITY:
        result.content_problems.append(
            Problem(
                Code.LOW_PDQ_QUALITY,
                f"PDQ quality {finding.quality} < {pdq.MIN_QUALITY}: too plain to match on",
            )
        )


def _analyse_video(data: bytes | BinaryIO, content: ContentRecord, result: WorkResult) -> None:
    """Keyframes analysed like images, vPDQ hashes, a blurred contact sheet (analyzers.video):
    fills the content's video fields, the video's findings/faces/thumbnail and its hashes."""
    from consentry.analyzers.video import analyse_video  # PyAV is loaded only for videos

    outcome = analyse_video(data, content.sha256)
    content.is_video = outcome.decoded
    content.width, content.height = outcome.width, outcome.height
    content.frames = outcome.frame_count
    content.duration_s = outcome.duration_s
    content.video_codec = outcome.codec
    result.content_problems.extend(outcome.problems)
    result.analysis = outcome.analysis
    result.video_hashes = outcome.hashes


def _too_deep(item: WorkItem, result: WorkResult) -> bool:
    if len(item.ref.member_chain) < archives.MAX_ARCHIVE_DEPTH:
        return False
    # a location problem: depth belongs to where the archive was found, not to its bytes
    # (the same zip found at the top of a source is listed normally)
    result.location_problems.append(
        Problem(
            Code.ARCHIVE_TOO_DEEP,
            f"archive nested {len(item.ref.member_chain)} deep: members not listed",
        )
    )
    return True


def _expand_archive(stream: BinaryIO, item: WorkItem, result: WorkResult) -> None:
    if _too_deep(item, result):
        return
    try:
        members = archives.list_members(stream)
    except ItemError as exc:
        result.content_problems.append(exc.problem())
        return
    if not members and archives.starts_with_local_header(stream):
        # the directory says "empty" while member data follows: a crafted zip hiding them
        result.content_problems.append(
            Problem(
                Code.HIDDEN_ARCHIVE_MEMBERS,
                "the zip's directory lists no member, but the file starts with member data: "
                "members may be hidden from the listing (not analysed)",
            )
        )
    _add_members(members, item, result)


def _expand_embedded(stream: BinaryIO, item: WorkItem, result: WorkResult) -> None:
    """A zip appended to an image, or behind a self-extractor's program: listed like a zip."""
    try:
        members = archives.list_embedded(stream)
    except ItemError as exc:
        members = []
        result.content_problems.append(exc.problem())
    if members is None:
        return
    result.content_problems.append(
        Problem(
            Code.ARCHIVE_IN_FILE,
            "a zip archive is embedded at the end of this file; its members are listed",
        )
    )
    if not _too_deep(item, result):
        _add_members(members, item, result)


def _add_members(members: list[archives.MemberInfo], item: WorkItem, result: WorkResult) -> None:
    for m in members:
        result.children.append(
            ChildLocation(
                ref=item.ref.child(m.element),
                rel_path=item.rel_path + ARCHIVE_SEPARATOR + member_display(m.element),
                size=m.size,
                mtime_ns=m.mtime_ns,
                readable=m.readable,
                problems=m.problems,
            )
        )
