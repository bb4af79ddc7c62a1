"""Disk images as evidence: raw (``dd``, ``.img``, ``.raw``, ``.001``) and EnCase E01 (split into
``.E01, .E02, ...`` too), their partitions and file systems, read-only, deleted files included.

The Sleuth Kit (``pytsk3``) reads the partition tables and file systems (NTFS, FAT12/16/32,
exFAT, ext2/3/4, HFS+, ISO 9660 where TSK reads them); libewf (``pyewf``) reads E01 media. Both
only ever get file descriptors this module opened ``O_RDONLY`` (``reader.open_readonly``): TSK
reads an image through ``_ReadOnlyImg``, a ``pytsk3.Img_Info`` whose ``read`` is ours, so no
code path of either library can open the evidence for writing.

A file inside an image is a location whose first chain element is a disk element
(``locations.disk_element``: ``"\\x01p2/Users/x/a.jpg"``, shown ``laptop.E01!p2/Users/x/a.jpg``)
and whose ``address`` says where the file system keeps it (``"p2:1234-128-2"``: volume, inode,
and for NTFS the $DATA attribute's type and id), so a worker reopens a deleted file by its
inode, without walking the file system again.

Deleted files. TSK lists a deleted name (FAT, NTFS, ext) with the metadata it still points to.
Whether the content is still there is decided at inventory, cheaply and conservatively:

- the name is deleted but its metadata entry is allocated again: the entry describes another
  file now -> ``unrecoverable``;
- no metadata, size 0, or no block left in the run list (ext3 wipes the block pointers of a
  deleted inode) -> ``unrecoverable``;
- some of its blocks are held by allocated files (checked against the runs of every allocated
  file of the volume, collected during the same walk) -> ``partial`` (all of them:
  ``unrecoverable``);
- the content cannot be read to its recorded size -> ``partial`` (nothing: ``unrecoverable``);
- otherwise ``recovered``.

What cannot be known this way: a block reused by a file that was itself deleted later, or FAT's
guess that a deleted file's clusters were contiguous (TSK's assumption, the only one possible:
the FAT chain is wiped on deletion) when they were not. Recovered content is analysed like any
other and flagged ``deleted_file``, so the examiner weighs it as such.

Nothing here raises anything but ``ItemError`` for bad evidence: a corrupt partition table, a
file system TSK cannot open or a directory that loops become problems on a location standing
for the image or volume, and the other volumes are still read.
"""

from __future__ import annotations

import atexit
import bisect
import contextlib
import hashlib
import io
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pytsk3

from consentry.media.reader import open_readonly
from consentry.records.disk import DiskImageInfo, VolumeInfo
from consentry.records.items import FileSystemMeta, FoundFile
from consentry.records.locations import (
    DISK_MARK,
    LocationRef,
    disk_element,
    display_bytes_path,
    element_display,
    is_disk_element,
    member_element,
    split_disk_element,
)
from consentry.records.problems import Code, ItemError, Problem

EWF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"  # EWF-E01 (EnCase 1-6, FTK, ewfacquire)
EWF2_SIGNATURE = b"EVF2\x0d\x0a\x81\x00"  # EWF2-Ex01 (EnCase 7+)
# Names a raw image goes by; such a file is a disk image when TSK finds a partition table or a
# file system in it (or it carries a boot-sector signature: then a broken table is reported).
RAW_SUFFIXES = (".dd", ".img", ".raw", ".001", ".ima", ".dsk", ".bin", ".iso")
EWF_SUFFIX = re.compile(r"\.(e|ex|s|l)[0-9a-z]{2}$", re.IGNORECASE)

# A file of an image is read into memory up to this size (as worker.MAX_IN_MEMORY_BYTES): the
# worker streams a larger one (``open_stream``) and hashes it without decoding.
MAX_READ_BYTES = 256 * 1024 * 1024
CHUNK = 1024 * 1024
# Against crafted or corrupt file systems: directories nested deeper than this, or more
# entries than this in one volume, are not followed (a real disk has < 10 million files).
MAX_DEPTH = 256
MAX_ENTRIES_PER_VOLUME = 20_000_000
# Open images kept per process (each holds the segment files' descriptors and TSK's caches).
MAX_OPEN_IMAGES = 4

_DIR_TYPES = (int(pytsk3.TSK_FS_META_TYPE_DIR), int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR))
_REG = int(pytsk3.TSK_FS_META_TYPE_REG)
_VIRT = int(pytsk3.TSK_FS_META_TYPE_VIRT)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_META_ALLOC = int(pytsk3.TSK_FS_META_FLAG_ALLOC)
_ATTR_NONRES = int(pytsk3.TSK_FS_ATTR_NONRES)
_RUN_SKIP = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
_NAME_TYPE_DIR = int(pytsk3.TSK_FS_NAME_TYPE_DIR)
_NAME_TYPE_REG = int(pytsk3.TSK_FS_NAME_TYPE_REG)
_VS_ALLOC = int(pytsk3.TSK_VS_PART_FLAG_ALLOC)
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_DEFAULT_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_DEFAULT)

# pytsk3 raises IOError for what TSK reports, and RuntimeError wrapping whatever our own read
# callback raised (libewf's IOError on a missing segment or a corrupt chunk)
_TSK_ERRORS = (OSError, RuntimeError)

_FS_NAMES: dict[int, str] = {
    int(getattr(pytsk3, f"TSK_FS_TYPE_{n}")): label
    for n, label in [
        ("NTFS", "NTFS"),
        ("FAT12", "FAT12"),
        ("FAT16", "FAT16"),
        ("FAT32", "FAT32"),
        ("EXFAT", "exFAT"),
        ("EXT2", "Ext2"),
        ("EXT3", "Ext3"),
        ("EXT4", "Ext4"),
        ("HFS", "HFS+"),
        ("ISO9660", "ISO 9660"),
        ("FFS1", "UFS1"),
        ("FFS1B", "UFS1b"),
        ("FFS2", "UFS2"),
        ("APFS", "APFS"),
        ("YAFFS2", "YAFFS2"),
    ]
    if hasattr(pytsk3, f"TSK_FS_TYPE_{n}")
}


def _tsk_message(exc: BaseException) -> str:
    """TSK's errors start with its C++ source position; keep the words an examiner can use."""
    text = str(exc).strip().replace("\n", " ")
    text = re.sub(r"^\w+: \([^)]*\) ", "", text)
    return text[:300] or type(exc).__name__


# -- what a file is ----------------------------------------------------------------------------


def image_format(raw_path: bytes) -> str | None:
    """``"ewf"`` or ``"raw"`` when the file at ``raw_path`` is a disk image, else None.

    E01 is known by its signature whatever its name; a raw image has no signature, so only a
    file named like one (``RAW_SUFFIXES``) is tried, and it is one when TSK finds a partition
    table or a file system in it, or its first sector ends in a boot signature (0x55AA: then
    a table TSK cannot read is reported, not silently taken for a plain file)."""
    try:
        with open_readonly(raw_path) as fh:
            head = fh.read(512)
    except ItemError:
        return None
    if head.startswith((EWF_SIGNATURE, EWF2_SIGNATURE)):
        return "ewf"
    if not os.fsdecode(raw_path).lower().endswith(RAW_SUFFIXES):
        return None
    if len(head) == 512 and head[510:512] == b"\x55\xaa":
        return "raw"
    try:
        image = _open_media(raw_path, "raw")
    except ItemError:
        return None
    try:
        return "raw" if _probe(image.img) else None
    finally:
        image.close()


def _probe(img: pytsk3.Img_Info) -> bool:
    try:
        pytsk3.Volume_Info(img)
        return True
    except _TSK_ERRORS:
        pass
    try:
        pytsk3.FS_Info(img, offset=0)
        return True
    except _TSK_ERRORS:
        return False


def ewf_segments(raw_path: bytes) -> tuple[list[bytes], str | None]:
    """The segment files of the E01 whose first segment is ``raw_path`` (``.E01, .E02, ...``
    as libewf names them), and why the set is incomplete (a segment missing), if it is."""
    import pyewf  # loaded only when an E01 is met

    try:
        found = [os.fsencode(p) for p in pyewf.glob(os.fsdecode(raw_path))]
    except (OSError, ValueError, TypeError) as exc:
        return [raw_path], f"cannot list the segment files: {_tsk_message(exc)}"
    if not found:
        found = [raw_path]
    # libewf's glob stops at the first missing number: a later segment beside a gap means the
    # set is incomplete (the last one's absence is seen when libewf opens the set)
    folder = os.path.dirname(raw_path) or b"."
    stem = os.path.basename(found[0])[:-3]
    try:
        siblings = {
            n
            for n in os.listdir(folder)
            if n[:-3] == stem and EWF_SUFFIX.search(os.fsdecode(n)) and len(n) == len(stem) + 3
        }
    except OSError:
        siblings = set()
    names = {os.path.basename(p) for p in found}
    extra = sorted(siblings - names)
    if extra:
        after = os.fsdecode(os.path.basename(found[-1]))
        return found, (
            f"segment after {after} is missing ({len(found)} found in order, "
            f"{os.fsdecode(extra[0])} and {len(extra) - 1} more lie beyond the gap)"
        )
    return found, None


# -- opening an image ------------------------------------------------------------------------


class _ReadOnlyImg(pytsk3.Img_Info):
    """TSK's view of the media: every read goes through ``read_at`` (``os.pread`` on a
    read-only descriptor, or libewf's read on segments opened read-only)."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self._read_at = read_at
        self._size = size
        self.errors = 0  # reads that failed (and were given to TSK as zeros)
        self.first_error: str | None = None
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        if offset >= self._size:
            return b""
        size = min(size, self._size - offset)
        try:
            return self._read_at(offset, size)
        except Exception as exc:  # noqa: BLE001 - libewf: a missing segment, a corrupt chunk
            # TSK stops at the first failed read (it probes the end of the media for backup
            # tables), so an image missing its last segment would lose every volume. Zeros go
            # to TSK instead, and the failure is counted: a file read that met one is refused
            # (``read_location``), and the media check reports where the media is unreadable.
            self.errors += 1
            if self.first_error is None:
                self.first_error = f"byte {offset:,}: {_tsk_message(exc)}"
            return b"\x00" * size

    def get_size(self) -> int:
        return self._size

    def close(self) -> None:  # TSK calls it; the descriptors are closed by _Media
        pass


@dataclass
class _Media:
    """The opened media of one image: raw bytes, whatever format stores them."""

    fmt: str
    segments: list[bytes]
    size: int
    img: _ReadOnlyImg
    read_at: Callable[[int, int], bytes]
    files: list[BinaryIO] = field(default_factory=list)
    ewf: Any = None  # the pyewf handle
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stored_hashes(self) -> tuple[str | None, str | None]:
        if self.ewf is None:
            return None, None
        out = []
        for name in ("MD5", "SHA1"):
            try:
                value = self.ewf.get_hash_value(name)
            except (OSError, ValueError):
                value = None
            out.append(value.lower() if value else None)
        return out[0], out[1]

    def close(self) -> None:
        try:
            if self.ewf is not None:
                self.ewf.close()
        except Exception:  # noqa: BLE001, S110 - closing read-only handles cannot lose anything
            pass
        for fh in self.files:
            with contextlib.suppress(OSError):
                fh.close()


def _open_media(raw_path: bytes, fmt: str) -> _Media:
    """Open the media read-only; ``ItemError`` (disk_image_unreadable / image_segment_missing)
    when it cannot be."""
    if fmt == "raw":
        fh = open_readonly(raw_path)
        fd = fh.fileno()
        size = os.fstat(fd).st_size

        def pread(offset: int, n: int) -> bytes:
            return os.pread(fd, n, offset)

        try:
            img = _ReadOnlyImg(pread, size)
        except _TSK_ERRORS as exc:
            fh.close()
            raise ItemError(Code.DISK_IMAGE_UNREADABLE, _tsk_message(exc)) from None
        return _Media("raw", [raw_path], size, img, pread, [fh])
    import pyewf

    segments, missing = ewf_segments(raw_path)
    if missing:
        raise ItemError(Code.IMAGE_SEGMENT_MISSING, missing)
    files = [open_readonly(s) for s in segments]
    handle = pyewf.handle()
    try:
        handle.open_file_objects(files, "r")
        size = int(handle.get_media_size())
    except Exception as exc:  # noqa: BLE001 - libewf raises IOError, but also others
        for fh in files:
            fh.close()
        message = _tsk_message(exc)
        code = Code.IMAGE_SEGMENT_MISSING if "segment" in message.lower() else None
        raise ItemError(
            code or Code.DISK_IMAGE_UNREADABLE, f"libewf cannot open the image: {message}"
        ) from None
    lock = threading.Lock()

    def ewf_read(offset: int, n: int) -> bytes:
        with lock:
            return bytes(handle.read_buffer_at_offset(n, offset))

    try:
        img = _ReadOnlyImg(ewf_read, size)
    except _TSK_ERRORS as exc:
        handle.close()
        raise ItemError(Code.DISK_IMAGE_UNREADABLE, _tsk_message(exc)) from None
    return _Media("ewf", segments, size, img, ewf_read, files, handle, lock)


@dataclass
class _Volume:
    name: str
    start: int
    length: int
    description: str
    fs: pytsk3.FS_Info | None
    fstype: str | None
    problem: Problem | None = None

    def info(self) -> VolumeInfo:
        return VolumeInfo(
            self.name,
            self.start,
            self.length,
            self.description,
            self.fstype,
            self.problem.message if self.problem else None,
        )


def _open_fs(img: pytsk3.Img_Info, start: int) -> tuple[pytsk3.FS_Info, str]:
    fs = pytsk3.FS_Info(img, offset=start)
    ftype = int(fs.info.ftype)
    return fs, _FS_NAMES.get(ftype, f"type 0x{ftype:x}")


def _volumes(media: _Media) -> tuple[list[_Volume], Problem | None]:
    """The volumes of the media in partition-table order; a problem for the image as a
    whole when neither a partition table nor a file system could be found."""
    try:
        vs = pytsk3.Volume_Info(media.img)
        block = int(vs.info.block_size)
        parts = [p for p in vs if int(p.flags) & _VS_ALLOC]
    except _TSK_ERRORS:
        parts, block = [], 512
    volumes: list[_Volume] = []
    for number, part in enumerate(parts, start=1):
        start, length = int(part.start) * block, int(part.len) * block
        desc = part.desc.decode("utf-8", "replace") if isinstance(part.desc, bytes) else ""
        name = f"p{number}"
        if start + length > media.size:
            problem = Problem(
                Code.VOLUME_UNREADABLE,
                f"partition {name} ({desc}) ends at byte {start + length:,}, past the image's "
                f"end ({media.size:,}): the image is truncated or the table is corrupt",
            )
            if start >= media.size:
                volumes.append(_Volume(name, start, length, desc, None, None, problem))
                continue
        else:
            problem = None
        try:
            fs, fstype = _open_fs(media.img, start)
        except _TSK_ERRORS as exc:
            problem = problem or Problem(
                Code.FILESYSTEM_UNREADABLE,
                f"partition {name} ({desc}): no file system The Sleuth Kit can open "
                f"({_tsk_message(exc)})",
            )
            volumes.append(_Volume(name, start, length, desc, None, None, problem))
            continue
        volumes.append(_Volume(name, start, length, desc, fs, fstype, problem))
    if volumes:
        return volumes, None
    try:
        fs, fstype = _open_fs(media.img, 0)
    except _TSK_ERRORS as exc:
        return [], Problem(
            Code.VOLUME_UNREADABLE,
            f"no partition table or file system The Sleuth Kit can read ({_tsk_message(exc)})",
        )
    return [_Volume("p0", 0, media.size, "whole image (no partition table)", fs, fstype)], None


# -- inspecting an image at inventory (hashes, volumes) ----------------------------------------


@dataclass
class ImageInspection:
    """What opening a source image found: the record for the ``disk_images`` table, the
    problems of the image as a whole, and (while open) the media to walk."""

    raw_path: bytes
    info: DiskImageInfo
    problems: list[Problem]
    verified_now: bool  # the media was read and hashed by this call (an audit event is due)
    media: _Media | None = None
    volumes: list[_Volume] = field(default_factory=list)

    def close(self) -> None:
        if self.media is not None:
            self.media.close()
            self.media = None


def _hash_media(
    media: _Media, on_bytes: Callable[[int, int], None] | None
) -> tuple[str, str, str | None]:
    """MD5 and SHA-1 of the whole media, read in order; a read error ends it (message).

    The two digests run on two threads (hashlib lets go of the GIL on large buffers) while
    the next chunk is read: the check takes as long as the slower digest (MD5), not both."""
    from concurrent.futures import ThreadPoolExecutor

    md5, sha1 = hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False)
    done = 0
    error = None
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-hash") as pool:
        pending: list[Any] = []
        while done < media.size:
            n = min(CHUNK * 4, media.size - done)
            try:
                data = media.read_at(done, n)
            except Exception as exc:  # noqa: BLE001 - libewf raises IOError on a corrupt chunk
                error = f"reading the media failed at byte {done:,}: {_tsk_message(exc)}"
                break
            if not data:
                error = f"the media ended at byte {done:,} of {media.size:,}"
                break
            for future in pending:
                future.result()  # the previous chunk is in both digests before this one
            pending = [pool.submit(md5.update, data), pool.submit(sha1.update, data)]
            done += len(data)
            if on_bytes is not None:
                on_bytes(done, media.size)
        for future in pending:
            future.result()
    return md5.hexdigest(), sha1.hexdigest(), error


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def inspect_image(
    raw_path: bytes,
    fmt: str,
    previous: DiskImageInfo | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
) -> ImageInspection:
    """Open the image, find its volumes and check its hashes (E01: against the MD5/SHA-1
    stored at acquisition; raw: computed, for the report). A check already made by an
    earlier run of the same case (``previous``) is kept, not redone: a resumed scan does not
    read the whole image again. Never raises for bad evidence: an image that cannot be opened
    comes back with its problem and ``verification="error"``."""
    shown = display_bytes_path(raw_path)
    segments = [raw_path]
    if fmt == "ewf":
        segments, _ = ewf_segments(raw_path)
    base = DiskImageInfo(
        source_id=0,
        path=shown,
        format=fmt,
        segments=[display_bytes_path(s) for s in segments],
        media_size=None,
    )
    try:
        media = _open_media(raw_path, fmt)
    except ItemError as exc:
        info = _replace(base, verification="error", message=exc.message)
        return ImageInspection(raw_path, info, [exc.problem()], verified_now=False)
    volumes, whole_problem = _volumes(media)
    problems = [whole_problem] if whole_problem else []
    stored_md5, stored_sha1 = media.stored_hashes()
    info = _replace(
        base,
        segments=[display_bytes_path(s) for s in media.segments],
        media_size=media.size,
        volumes=[v.info() for v in volumes],
        stored_md5=stored_md5,
        stored_sha1=stored_sha1,
    )
    done = ("verified", "mismatch", "no_stored_hash", "error")
    if previous is not None and previous.verification in done and previous.computed_md5:
        info = _replace(
            info,
            computed_md5=previous.computed_md5,
            computed_sha1=previous.computed_sha1,
            verification=previous.verification,
            verified_at=previous.verified_at,
            message=previous.message,
        )
        verified_now = False
    else:
        md5, sha1, error = _hash_media(media, on_bytes)
        verification, message = _verdict(stored_md5, stored_sha1, md5, sha1, error)
        info = _replace(
            info,
            computed_md5=None if error else md5,
            computed_sha1=None if error else sha1,
            verification=verification,
            verified_at=_now_iso(),
            message=message,
        )
        verified_now = True
    if info.verification == "mismatch":
        problems.append(Problem(Code.IMAGE_HASH_MISMATCH, info.message or "hash mismatch"))
    elif info.verification == "error":
        message = info.message or "the media could not be read"
        missing = "missing segment" in message.lower()
        problems.append(
            Problem(Code.IMAGE_SEGMENT_MISSING if missing else Code.DISK_IMAGE_UNREADABLE, message)
        )
    return ImageInspection(raw_path, info, problems, verified_now, media, volumes)


def _verdict(
    stored_md5: str | None,
    stored_sha1: str | None,
    md5: str,
    sha1: str,
    error: str | None,
) -> tuple[str, str | None]:
    if error is not None:
        return "error", error
    if not stored_md5 and not stored_sha1:
        return "no_stored_hash", "no hash stored in the image: MD5 and SHA-1 computed here"
    wrong = [
        f"{name} stored {stored} but the media hashes to {computed}"
        for name, stored, computed in (("MD5", stored_md5, md5), ("SHA-1", stored_sha1, sha1))
        if stored and stored != computed
    ]
    if wrong:
        return "mismatch", "; ".join(wrong)
    said = " and ".join(n for n, s in (("MD5", stored_md5), ("SHA-1", stored_sha1)) if s)
    return "verified", f"{said} as stored at acquisition"


def _replace(info: DiskImageInfo, **changes: Any) -> DiskImageInfo:
    from dataclasses import replace

    return replace(info, **changes)


# -- walking the file systems ------------------------------------------------------------------


def _ns(seconds: Any, nano: Any = 0) -> int | None:
    try:
        s = int(seconds)
    except (TypeError, ValueError):
        return None
    if s <= 0:
        return None  # TSK's "not recorded"
    try:
        return s * 1_000_000_000 + int(nano or 0)
    except (TypeError, ValueError):
        return s * 1_000_000_000


def _name_str(raw: bytes) -> str:
    """A file-system name as a path part: TSK gives UTF-8; what is not, a "/" or a NUL (they
    would break the path or the chain element) are shown as ``\\xNN``."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text.replace("/", "\\x2f").replace("\x00", "\\x00")


@dataclass
class _Pending:
    """A deleted file met during the walk; its recovery is decided once the volume's
    allocated blocks are all known."""

    found: FoundFile
    runs: list[tuple[int, int]]  # (first block, blocks)
    size: int
    no_meta: str | None  # why there is nothing to recover, known from the entry alone
    file: Any  # the pytsk3 File, to try reading


class _Runs:
    """Blocks held by the allocated files of one volume, for the overlap check."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self._merged: tuple[list[int], list[int]] | None = None

    def add(self, runs: list[tuple[int, int]]) -> None:
        for start, n in runs:
            self.starts.append(start)
            self.ends.append(start + n)
        self._merged = None

    def merged(self) -> tuple[list[int], list[int]]:
        if self._merged is None:
            pairs = sorted(zip(self.starts, self.ends, strict=True))
            starts: list[int] = []
            ends: list[int] = []
            for s, e in pairs:
                if starts and s <= ends[-1]:
                    ends[-1] = max(ends[-1], e)
                else:
                    starts.append(s)
                    ends.append(e)
            self._merged = (starts, ends)
        return self._merged

    def overlap(self, runs: list[tuple[int, int]]) -> int:
        """How many of these blocks an allocated file holds."""
        starts, ends = self.merged()
        total = 0
        for s, n in runs:
            e = s + n
            i = max(bisect.bisect_right(starts, s) - 1, 0)
            while i < len(starts) and starts[i] < e:
                total += max(0, min(e, ends[i]) - max(s, starts[i]))
                i += 1
        return total


def _data_attr(f: Any) -> tuple[list[tuple[int, int]], bool, str | None]:
    """(block runs, resident, "type-id" of NTFS's $DATA) of a file's default data stream."""
    try:
        for attr in f:
            atype = int(attr.info.type)
            if atype not in (_NTFS_DATA, _DEFAULT_DATA, 1):
                continue
            if atype == _NTFS_DATA and attr.info.name not in (None, b"", b"$Data"):
                continue  # an alternate data stream
            nonres = bool(int(attr.info.flags) & _ATTR_NONRES)
            runs = []
            if nonres:
                for run in attr:
                    if int(run.flags) & _RUN_SKIP or int(run.len) <= 0:
                        continue
                    runs.append((int(run.addr), int(run.len)))
            type_id = f"{atype}-{int(attr.info.id)}" if atype == _NTFS_DATA else None
            return runs, not nonres, type_id
    except _TSK_ERRORS:
        pass
    return [], False, None


def _read_prefix(f: Any, size: int, stop_at: int | None = None) -> tuple[int, str | None]:
    """How many bytes of the file can be read, from the start, up to ``size``."""
    done = 0
    limit = size if stop_at is None else min(size, stop_at)
    while done < limit:
        n = min(CHUNK, limit - done)
        try:
            data = f.read_random(done, n)
        except _TSK_ERRORS as exc:
            return done, _tsk_message(exc)
        if not data:
            return done, "the file system returned no more data"
        done += len(data)
    return done, None


def _check_readable(f: Any, size: int) -> tuple[int, str | None]:
    """``_read_prefix`` for a file up to MAX_READ_BYTES; a larger one (a deleted video) is
    checked at its first and last MiB only, not read whole at inventory."""
    if size <= MAX_READ_BYTES:
        return _read_prefix(f, size)
    head, error = _read_prefix(f, CHUNK)
    if head < CHUNK:
        return head, error
    try:
        tail = f.read_random(size - CHUNK, CHUNK)
    except _TSK_ERRORS as exc:
        return size - CHUNK, _tsk_message(exc)
    if len(tail) < CHUNK:
        return size - CHUNK + len(tail), "the file system returned no more data"
    return size, None


def walk_image(inspection: ImageInspection) -> Iterator[FoundFile]:
    """Every location of an inspected image: the segment files first (the image location
    carries the image's problems), then each volume's files in a fixed order (a re-run lists
    the same locations in the same order). Closes the media when done."""
    raw_path = inspection.raw_path
    shown = os.path.basename(raw_path)
    media = inspection.media
    try:
        for number, segment in enumerate(_segment_paths(inspection)):
            yield _segment_found(segment, inspection.problems if number == 0 else [])
        for volume in inspection.volumes:
            if volume.problem is not None:
                yield _volume_found(raw_path, shown, volume)
            if volume.fs is not None and media is not None:
                try:
                    yield from _walk_volume(raw_path, shown, volume, media.img)
                except _TSK_ERRORS as exc:
                    # the media failed under TSK part-way (a corrupt chunk, a missing segment):
                    # what was listed stays listed, the volume says where it stopped
                    problem = Problem(
                        Code.FILESYSTEM_UNREADABLE,
                        f"listing stopped part-way: {_tsk_message(exc)}",
                    )
                    yield _volume_found(raw_path, shown, _replace_volume(volume, problem))
    finally:
        inspection.close()


def _segment_paths(inspection: ImageInspection) -> list[bytes]:
    if inspection.media is not None:
        return inspection.media.segments
    segs = [os.fsencode(s) for s in inspection.info.segments]
    return segs or [inspection.raw_path]


def _segment_found(segment: bytes, problems: list[Problem]) -> FoundFile:
    """A segment file of the image, as a location on the examiner's disk: never analysed
    (its content is the image), but kept so that the end-of-scan read-only check compares
    its size and mtime."""
    try:
        st = os.stat(segment)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        size, mtime = None, None
    return FoundFile(
        LocationRef(segment),
        display_bytes_path(os.path.basename(segment)),
        size,
        mtime,
        readable=False,
        problems=list(problems),
    )


def _volume_found(raw_path: bytes, shown: bytes, volume: _Volume) -> FoundFile:
    ref = LocationRef(raw_path, (member_element(DISK_MARK + volume.name),))
    problem = volume.problem
    assert problem is not None
    return FoundFile(
        ref,
        display_bytes_path(shown) + element_display(ref.member_chain[0]),
        volume.length,
        None,
        readable=False,
        problems=[problem],
    )


def _walk_volume(
    raw_path: bytes, shown: bytes, volume: _Volume, img: _ReadOnlyImg
) -> Iterator[FoundFile]:
    fs = volume.fs
    assert fs is not None
    ntfs = volume.fstype == "NTFS"
    fat = (volume.fstype or "").startswith("FAT") or volume.fstype == "exFAT"
    runs = _Runs()
    deleted: list[_Pending] = []
    occurrences: dict[str, int] = {}
    visited: set[int] = set()
    count = 0
    prefix = display_bytes_path(shown)

    def location(path: str, address: str | None) -> tuple[LocationRef, str]:
        occurrence = occurrences[path] = occurrences.get(path, 0) + 1
        element = disk_element(volume.name, path, occurrence)
        ref = LocationRef(raw_path, (element,), address)
        return ref, prefix + element_display(element)

    def listing(directory: Any) -> list[tuple[bytes, int, int, Any]]:
        entries = []
        for f in directory:
            name = f.info.name
            if name is None or name.name in (b".", b".."):
                continue
            alloc = 0 if int(name.flags) & _NAME_UNALLOC == 0 else 1
            meta = f.info.meta
            addr = int(meta.addr) if meta is not None else int(name.meta_addr or 0)
            entries.append((bytes(name.name), alloc, addr, f))
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        # NTFS keeps stale copies of a live file's index entry in the index's slack: a
        # "deleted" name for the very file listed live beside it is not a second file
        live = {(e[0], e[2]) for e in entries if not e[1]}
        return [e for e in entries if not e[1] or (e[0], e[2]) not in live]

    try:
        root = fs.open_dir(inode=int(fs.info.root_inum))
    except _TSK_ERRORS as exc:
        problem = Problem(Code.FILESYSTEM_UNREADABLE, f"cannot list the root folder: {exc}")
        yield _volume_found(raw_path, shown, _replace_volume(volume, problem))
        return
    visited.add(int(fs.info.root_inum))
    # depth-first, entries of each folder sorted by name (live before deleted)
    stack: list[tuple[str, Iterator[tuple[bytes, int, int, Any]], bool]] = []
    try:
        stack.append(("", iter(listing(root)), False))
    except _TSK_ERRORS as exc:
        problem = Problem(Code.FILESYSTEM_UNREADABLE, f"cannot list the root folder: {exc}")
        yield _volume_found(raw_path, shown, _replace_volume(volume, problem))
        return
    while stack:
        folder, entries, in_deleted = stack[-1]
        in_orphans = folder == "/$OrphanFiles"
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        count += 1
        if count > MAX_ENTRIES_PER_VOLUME:
            problem = Problem(
                Code.FILESYSTEM_UNREADABLE,
                f"more than {MAX_ENTRIES_PER_VOLUME:,} entries: the rest is not listed",
            )
            yield _volume_found(raw_path, shown, _replace_volume(volume, problem))
            break
        raw_name, unalloc_name, addr, f = entry
        name = _name_str(raw_name)
        path = f"{folder}/{name}"
        meta = f.info.meta
        mtype = int(meta.type) if meta is not None else None
        name_type = int(f.info.name.type)
        if mtype == _VIRT:
            continue  # TSK's $MBR, $FAT1, $FAT2: the file system's own structures
        is_dir = mtype in _DIR_TYPES or (mtype is None and name_type == _NAME_TYPE_DIR)
        meta_unalloc = meta is not None and int(meta.flags) & _META_UNALLOC != 0
        gone = bool(unalloc_name) or meta_unalloc or in_deleted
        if fat and raw_name.endswith(b"(Volume Label Entry)"):
            continue  # TSK shows FAT's volume label as a file; it holds no content
        if in_orphans and (meta is None or not int(meta.size)):
            continue  # an orphan entry of which nothing but its number is known
        if ntfs and not folder and raw_name.startswith(b"$") and 0 <= addr < 27:
            # NTFS's metadata files ($MFT, $LogFile, $Bitmap ...): not evidence files, but
            # the blocks they hold are allocated
            if not is_dir and meta is not None:
                runs.add(_data_attr(f)[0])
            continue
        if is_dir:
            if addr in visited or len(stack) >= MAX_DEPTH:
                continue  # a loop (or a deleted folder whose entry was reused), or too deep
            visited.add(addr)
            try:
                sub = f.as_directory()
                stack.append((path, iter(listing(sub)), gone or name == "$OrphanFiles"))
            except (OSError, RuntimeError) as exc:
                if not gone:
                    ref, rel = location(path, f"{volume.name}:{addr}")
                    yield FoundFile(
                        ref,
                        rel,
                        None,
                        None,
                        readable=False,
                        problems=[
                            Problem(
                                Code.FILESYSTEM_UNREADABLE,
                                f"cannot list folder: {_tsk_message(exc)}",
                            )
                        ],
                    )
            continue
        runs_of: list[tuple[int, int]] = []
        resident, type_id = False, None
        if meta is not None and (mtype == _REG or mtype is None):
            runs_of, resident, type_id = _data_attr(f)
        inode = f"{addr}-{type_id}" if type_id else str(addr)
        address = f"{volume.name}:{inode}"
        ref, rel = location(path, address)
        size = int(meta.size) if meta is not None else None
        fsmeta = FileSystemMeta(
            inode=inode,
            deleted=gone,
            recovery="allocated",
            atime_ns=_ns(meta.atime, meta.atime_nano) if meta is not None else None,
            ctime_ns=_ns(meta.ctime, meta.ctime_nano) if meta is not None else None,
            crtime_ns=_ns(meta.crtime, meta.crtime_nano) if meta is not None else None,
        )
        mtime = _ns(meta.mtime, meta.mtime_nano) if meta is not None else None
        if mtype is not None and mtype != _REG:
            found = FoundFile(
                ref,
                rel,
                size,
                mtime,
                readable=False,
                problems=[
                    Problem(
                        Code.NOT_REGULAR_FILE,
                        "link, device, pipe or socket in the image: recorded, not followed",
                    )
                ],
                fs=fsmeta,
            )
            yield found
            continue
        found = FoundFile(ref, rel, size, mtime, readable=True, fs=fsmeta)
        if not gone:
            runs.add(runs_of)
            yield found
            continue
        no_meta = None
        if meta is None or addr == 0:
            no_meta = "no metadata entry is left for this name"
        elif unalloc_name and int(meta.flags) & _META_ALLOC:
            no_meta = "its metadata entry now describes another (allocated) file"
        elif not size:
            no_meta = "the file system records no content for it (size 0)"
        elif not resident and not runs_of:
            no_meta = "its block pointers were wiped when it was deleted"
        deleted.append(_Pending(found, runs_of, size or 0, no_meta, f))
    for pending in deleted:
        yield _decide(pending, runs, fs, img)


def _replace_volume(volume: _Volume, problem: Problem) -> _Volume:
    return _Volume(
        volume.name,
        volume.start,
        volume.length,
        volume.description,
        None,
        volume.fstype,
        problem,
    )


def _decide(p: _Pending, allocated: _Runs, fs: Any, img: _ReadOnlyImg) -> FoundFile:
    """Recovered, partial or unrecoverable: a deleted file's fate (see the module's text)."""
    found = p.found
    assert found.fs is not None
    recovery, why = "recovered", ""
    if p.no_meta is not None:
        recovery, why = "unrecoverable", p.no_meta
    else:
        total = sum(n for _, n in p.runs)
        taken = allocated.overlap(p.runs) if p.runs else 0
        if total and taken >= total:
            recovery, why = "unrecoverable", "all its blocks now belong to allocated files"
        else:
            before = img.errors
            readable, error = _check_readable(p.file, p.size)
            if img.errors != before:
                readable, error = 0, f"it lies where the image cannot be read ({img.first_error})"
            if readable == 0:
                recovery, why = "unrecoverable", error or "nothing could be read"
            elif readable < p.size:
                recovery = "partial"
                why = f"{readable:,} of {p.size:,} bytes could be read ({error})"
            if taken:
                block = int(fs.info.block_size)
                recovery = "partial"
                why = (why + "; " if why else "") + (
                    f"{taken} of {total} blocks ({taken * block:,} bytes) now belong to "
                    "allocated files: those bytes are another file's"
                )
    found.fs = _replace_fs(found.fs, recovery)
    if recovery == "unrecoverable":
        found.readable = False
        found.problems.append(
            Problem(Code.DELETED_UNRECOVERABLE, f"deleted; content not recoverable: {why}")
        )
    elif recovery == "partial":
        found.problems.append(Problem(Code.DELETED_PARTIAL, f"deleted; partly recovered: {why}"))
    else:
        found.problems.append(
            Problem(
                Code.DELETED_FILE,
                "deleted; content recovered from blocks no allocated file holds",
            )
        )
    return found


def _replace_fs(meta: FileSystemMeta, recovery: str) -> FileSystemMeta:
    from dataclasses import replace

    return replace(meta, recovery=recovery)


# -- reading a file of an image (workers, case passes) ----------------------------------------


@dataclass
class _OpenImage:
    media: _Media
    volumes: dict[str, pytsk3.FS_Info]
    identity: tuple[int, int, int, int]

    def close(self) -> None:
        self.media.close()


_cache: OrderedDict[bytes, _OpenImage] = OrderedDict()
_cache_lock = threading.RLock()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def clear_cache() -> None:
    """Close every image this process keeps open (their file descriptors included)."""
    with _cache_lock:
        while _cache:
            _cache.popitem(last=False)[1].close()


atexit.register(clear_cache)


def _image(raw_path: bytes) -> _OpenImage:
    """The image at ``raw_path``, opened once per process (reopened when it changed)."""
    with _cache_lock:
        try:
            now = _identity(os.stat(raw_path))
        except OSError as exc:
            raise ItemError(Code.MISSING, f"disk image not found: {exc.strerror}") from None
        image = _cache.get(raw_path)
        if image is not None and image.identity == now:
            _cache.move_to_end(raw_path)
            return image
        if image is not None:
            del _cache[raw_path]
            image.close()
        fmt = image_format(raw_path)
        if fmt is None:
            raise ItemError(Code.DISK_IMAGE_UNREADABLE, "no longer a disk image TSK can read")
        media = _open_media(raw_path, fmt)
        volumes, _ = _volumes(media)
        image = _OpenImage(media, {v.name: v.fs for v in volumes if v.fs is not None}, now)
        _cache[raw_path] = image
        while len(_cache) > MAX_OPEN_IMAGES:
            _cache.popitem(last=False)[1].close()
        return image


class _TskStream(io.RawIOBase):
    """A read-only, seekable stream over one file of an image. A deleted file ends where
    the file system stops giving data (a partial recovery); a live one raises OSError."""

    def __init__(self, f: Any, size: int, deleted: bool, image: _OpenImage) -> None:
        self._f = f
        self._size = size
        self._pos = 0
        self._deleted = deleted
        self._image = image  # held so the cache cannot close it under a reader

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        try:
            data = self._f.read_random(self._pos, n)
        except _TSK_ERRORS as exc:
            if self._deleted:
                self._size = self._pos  # what could be read is the recovered content
                return 0
            raise OSError(f"the file system could not be read: {_tsk_message(exc)}") from None
        if not data:
            self._size = self._pos
            return 0
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _open_file(ref: LocationRef) -> tuple[Any, int, bool, _OpenImage]:
    if not ref.member_chain or not is_disk_element(ref.member_chain[0]):
        raise ValueError("not a location inside a disk image")
    volume, path, occurrence = split_disk_element(ref.member_chain[0])
    image = _image(ref.raw_path)
    fs = image.volumes.get(volume)
    if fs is None:
        raise ItemError(Code.VOLUME_UNREADABLE, f"volume {volume} cannot be read")
    f = None
    if ref.address and ref.address.startswith(volume + ":"):
        inode = ref.address[len(volume) + 1 :].split("-", 1)[0]
        try:
            f = fs.open_meta(inode=int(inode))
        except (*_TSK_ERRORS, ValueError):
            f = None
    if f is None and occurrence == 1:
        try:
            f = fs.open(path.encode("utf-8", errors="surrogateescape"))
        except (*_TSK_ERRORS, UnicodeEncodeError):
            f = None
    if f is None:
        raise ItemError(Code.MISSING, f"{path} is not found in volume {volume}")
    meta = f.info.meta
    if meta is None:
        raise ItemError(Code.DELETED_UNRECOVERABLE, "no metadata left for this file")
    deleted = int(meta.flags) & _META_UNALLOC != 0 or (
        f.info.name is not None and int(f.info.name.flags) & _NAME_UNALLOC != 0
    )
    return f, int(meta.size), deleted, image


def open_stream(ref: LocationRef) -> BinaryIO:
    """A read-only buffered stream of one file in a disk image (any size)."""
    with _cache_lock:
        f, size, deleted, image = _open_file(ref)
    return io.BufferedReader(_TskStream(f, size, deleted, image), CHUNK)


def location_size(ref: LocationRef) -> int:
    with _cache_lock:
        return _open_file(ref)[1]


def read_location(ref: LocationRef) -> bytes:
    """The whole content of the file at ``ref`` (chain of one disk element); ItemError only.
    Deleted files give what could be read back (see the module's text)."""
    try:
        with _cache_lock:
            f, size, deleted, image = _open_file(ref)
            if size > MAX_READ_BYTES:
                raise ItemError(
                    Code.TOO_LARGE_FOR_ANALYSIS,
                    f"{size:,} bytes: over the {MAX_READ_BYTES:,}-byte in-memory limit",
                )
            errors = image.media.img.errors
            with _TskStream(f, size, deleted, image) as stream:
                out = bytearray()
                while True:
                    chunk = stream.read(CHUNK)
                    if not chunk:
                        break
                    out += chunk
            if image.media.img.errors != errors:
                raise ItemError(
                    Code.UNREADABLE,
                    "part of this file lies where the image cannot be read "
                    f"({image.media.img.first_error})",
                )
            return bytes(out)
    except ItemError:
        raise
    except MemoryError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise ItemError(Code.UNREADABLE, f"cannot read from the disk image: {exc}") from None


__all__ = [
    "EWF_SIGNATURE",
    "ImageInspection",
    "clear_cache",
    "ewf_segments",
    "image_format",
    "inspect_image",
    "location_size",
    "open_stream",
    "read_location",
    "walk_image",
]
