"""Open zip archives read-only, in memory, defending against hostile archives.

Nothing is ever extracted to disk, so a member named ``../../etc/passwd`` cannot escape anywhere;
it is still flagged, because such names are a sign of a crafted archive.

Whatever an archive holds, reading it raises nothing but ``ItemError``: a crafted header that
makes ``zipfile`` fail in any way becomes that item's problem, never the scan's end.

Every member is listed, also when several share a name (each addressed by its occurrence, see
``locations.member_element``), and a zip appended to another file (a JPEG with a zip behind it,
a self-extracting archive with a program in front) is found and listed too.

Archives are kept open per process (``read_location``): a worker reading the 20,000 members of
one zip parses its central directory once, not 20,000 times, and a nested archive is inflated
once, not once per member.
"""

from __future__ import annotations

import atexit
import io
import os
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from consentry.media.reader import open_readonly
from consentry.records.locations import (
    DISK_MARK,
    LocationRef,
    is_disk_element,
    member_element,
    split_member,
)
from consentry.records.problems import Code, ItemError, Problem

# Limits against zip bombs. A member may declare any size; we believe neither the header nor the
# ratio alone: a member is refused if it declares more than MAX_MEMBER_BYTES, or if it expands more
# than MAX_RATIO times while being larger than RATIO_FLOOR_BYTES, and reading stops at the limit
# whatever the header said.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
# More members than this in one archive is refused as a bomb of entries (each becomes a location
# in the store; a phone backup holds tens of thousands, not millions).
MAX_MEMBERS = 100_000
# Archives inside archives are followed this deep (a zip quine would otherwise never end).
MAX_ARCHIVE_DEPTH = 4
# A zip's end record sits in its last 22 bytes plus a comment of at most 64 KiB: only this tail
# of a file that does not start like a zip is searched for an appended archive.
END_RECORD_SEARCH_BYTES = 22 + 0xFFFF
# Open archives kept per process: each outer one holds a read-only file descriptor, and a worker
# reads the members of one archive after another, so a few are enough.
MAX_OPEN_ARCHIVES = 8
# Inflated nested archives kept in memory per process, in all; one larger than this is inflated
# for each use and dropped (memory matters more than speed for such rare archives).
MAX_CACHED_NESTED_BYTES = 256 * 1024 * 1024

_END_RECORD = b"PK\x05\x06"


@dataclass
class MemberInfo:
    name: str
    size: int
    mtime_ns: int | None
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True
    occurrence: int = 1  # the n-th member with this name (see locations.member_element)

    @property
    def element(self) -> str:
        """How this member is addressed in a LocationRef's member chain."""
        return member_element(self.name, self.occurrence)


def _zip_time_ns(date_time: tuple[int, int, int, int, int, int]) -> int | None:
    # Zip times carry no time zone; they are recorded as written, read as UTC.
    try:
        return int(datetime(*date_time, tzinfo=UTC).timestamp()) * 1_000_000_000
    except (ValueError, OverflowError, TypeError):
        return None


def _is_unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _as_item_error(exc: Exception, what: str) -> ItemError:
    """Any exception met while reading an archive, as the item's problem."""
    if isinstance(exc, ItemError):
        return exc
    if isinstance(exc, NotImplementedError):
        return ItemError(Code.UNSUPPORTED_ARCHIVE, f"{what}: unsupported zip feature: {exc}")
    if isinstance(exc, RuntimeError) and "encrypted" in str(exc):
        return ItemError(Code.ENCRYPTED_MEMBER, str(exc))
    return ItemError(Code.CORRUPT_ARCHIVE, f"{what}: {type(exc).__name__}: {exc}"[:500])


def _open_zip(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crafted header may trip anything in zipfile
        raise _as_item_error(exc, "not a readable zip archive") from None


def _file_infos(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise ItemError(
            Code.ZIP_BOMB, f"{len(infos):,} members exceed the limit of {MAX_MEMBERS:,}"
        )
    return infos


def list_members(stream: BinaryIO) -> list[MemberInfo]:
    """List the file members of a zip, with the problems visible from its directory."""
    try:
        with _open_zip(stream) as zf:
            return _members(_file_infos(zf))
    except (ItemError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - no header field may stop a scan
        raise _as_item_error(exc, "cannot list the archive") from None


def _members(infos: list[zipfile.ZipInfo]) -> list[MemberInfo]:
    totals: dict[str, int] = {}
    for info in infos:
        totals[info.filename] = totals.get(info.filename, 0) + 1
    seen: dict[str, int] = {}
    members: list[MemberInfo] = []
    for info in infos:
        occurrence = seen[info.filename] = seen.get(info.filename, 0) + 1
        member = MemberInfo(
            info.filename, info.file_size, _zip_time_ns(info.date_time), occurrence=occurrence
        )
        if totals[info.filename] > 1:
            member.problems.append(
                Problem(
                    Code.DUPLICATE_MEMBER_NAME,
                    f"{totals[info.filename]} members share this name; this is number "
                    f"{occurrence} in the archive's directory (each is recorded)",
                )
            )
        if info.filename.startswith(DISK_MARK):
            # a name crafted to read as a path in a disk image (locations.DISK_MARK): kept
            # out of the chain, where it would be taken for one
            member.readable = False
            member.problems.append(
                Problem(
                    Code.UNSAFE_MEMBER_PATH,
                    "member name starts with a control character reserved for disk-image "
                    "paths: recorded, not read",
                )
            )
        elif _is_unsafe(info.filename):
            member.problems.append(
                Problem(
                    Code.UNSAFE_MEMBER_PATH,
                    "member path leaves the archive root (not extracted: read in memory only)",
                )
            )
        if info.flag_bits & 0x1:
            member.readable = False
            member.problems.append(
                Problem(Code.ENCRYPTED_MEMBER, "member is encrypted; no password is tried")
            )
        elif bomb := _bomb_reason(info.file_size, info.compress_size):
            member.readable = False
            member.problems.append(Problem(Code.ZIP_BOMB, bomb))
        members.append(member)
    return members


def starts_with_local_header(stream: BinaryIO) -> bool:
    """Whether ``stream`` starts with a zip local file header (a member's data)."""
    try:
        stream.seek(0)
        head = stream.read(4)
        stream.seek(0)
    except (OSError, ValueError):
        return False
    return head == b"PK\x03\x04"


def has_end_record(stream: BinaryIO) -> bool:
    """Whether the tail of ``stream`` holds a zip end record (a zip may be appended to it)."""
    try:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(0, size - END_RECORD_SEARCH_BYTES))
        found = _END_RECORD in stream.read(END_RECORD_SEARCH_BYTES)
        stream.seek(0)
    except (OSError, ValueError):
        return False
    return found


def list_embedded(stream: BinaryIO) -> list[MemberInfo] | None:
    """The members of a zip appended to (or embedded at the end of) a file that is not a zip
    itself, or None when it holds none. zipfile finds the archive from its end record, whatever
    lies in front of it: an image, or a self-extractor's program."""
    if not has_end_record(stream):
        return None
    try:
        members = list_members(stream)
    except ItemError as exc:
        if exc.code == Code.ZIP_BOMB:
            raise  # a real archive of too many entries: say so
        return None  # four bytes that only looked like an end record
    return members or None


def _bomb_reason(size: int, compressed: int) -> str | None:
    if size > MAX_MEMBER_BYTES:
        return f"declares {size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte limit"
    if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * max(compressed, 1):
        return f"expands {size / max(compressed, 1):,.0f}x ({compressed:,} -> {size:,} bytes)"
    return None


def _find_info(index: dict[str, list[zipfile.ZipInfo]], element: str) -> zipfile.ZipInfo:
    name, occurrence = split_member(element)
    found = index.get(name, [])
    if len(found) < occurrence:
        raise ItemError(Code.MISSING, f"member {name!r} is no longer in the archive")
    return found[occurrence - 1]


def _index(infos: list[zipfile.ZipInfo]) -> dict[str, list[zipfile.ZipInfo]]:
    index: dict[str, list[zipfile.ZipInfo]] = {}
    for info in infos:
        index.setdefault(info.filename, []).append(info)
    return index


def _read_info(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Read one member fully, stopping at the bomb limits whatever its header claims."""
    name = info.filename
    try:
        if info.flag_bits & 0x1:
            raise ItemError(Code.ENCRYPTED_MEMBER, "member is encrypted; no password is tried")
        if bomb := _bomb_reason(info.file_size, info.compress_size):
            raise ItemError(Code.ZIP_BOMB, bomb)
        limit = max(info.file_size, 0) if info.file_size < MAX_MEMBER_BYTES else 0
        with zf.open(info) as fh:
            data = fh.read(MAX_MEMBER_BYTES + 1)
        if len(data) > MAX_MEMBER_BYTES or (limit and len(data) > limit):
            raise ItemError(Code.ZIP_BOMB, "member expands beyond its declared size")
        return data
    except (ItemError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a crafted header may trip anything in zipfile
        raise _as_item_error(exc, f"cannot read member {name!r}") from None


def read_member(stream: BinaryIO, element: str) -> bytes:
    """Read one member (a member-chain element) of the zip in ``stream``, uncached."""
    try:
        with _open_zip(stream) as zf:
            return _read_info(zf, _find_info(_index(_file_infos(zf)), element))
    except (ItemError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - closing a broken archive may raise too
        raise _as_item_error(exc, "cannot read the archive") from None


@contextmanager
def open_chain(outer: BinaryIO, chain: tuple[str, ...]) -> Iterator[BinaryIO]:
    """Yield a stream of the archive reached by following ``chain`` (all but the last member)."""
    if len(chain) > MAX_ARCHIVE_DEPTH:
        raise ItemError(Code.ARCHIVE_TOO_DEEP, f"archives nested deeper than {MAX_ARCHIVE_DEPTH}")
    stream: BinaryIO = outer
    for name in chain:
        stream = io.BytesIO(read_member(stream, name))
    yield stream


# -- archives kept open per process ---------------------------------------------------------------


@dataclass
class _OpenArchive:
    zf: zipfile.ZipFile
    index: dict[str, list[zipfile.ZipInfo]]
    identity: tuple[int, int, int, int]  # the outer file's size, mtime_ns, inode, device
    nbytes: int  # inflated bytes held in memory (0 for an archive read from disk)
    fh: BinaryIO | None = None

    def close(self) -> None:
        try:
            self.zf.close()
            if self.fh is not None:
                self.fh.close()
        except Exception:  # noqa: BLE001, S110 - closing read-only handles cannot lose anything
            pass


_ArchiveKey = tuple[bytes, tuple[str, ...]]
_cache: OrderedDict[_ArchiveKey, _OpenArchive] = OrderedDict()
_cache_lock = threading.RLock()


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def clear_cache() -> None:
    """Close every archive this process keeps open (their file descriptors included)."""
    with _cache_lock:
        while _cache:
            _cache.popitem(last=False)[1].close()


atexit.register(clear_cache)


def _cached_bytes() -> int:
    return sum(a.nbytes for a in _cache.values())


def _open_archive(
    raw_path: bytes, chain: tuple[str, ...], address: str | None = None
) -> _OpenArchive:
    """The archive reached from file ``raw_path`` through members ``chain``; not cached. A
    chain that starts with a disk element starts at a file inside a disk image (``address``:
    where its file system keeps it): read through ``media.disk``, streamed (not held in
    memory) when it is large."""
    if len(chain) == 1 and is_disk_element(chain[0]):
        from consentry.media import disk  # pytsk3 loads only when a disk image is met

        ref = LocationRef(raw_path, chain, address)
        identity = _identity(os.stat(raw_path))
        if disk.location_size(ref) > MAX_CACHED_NESTED_BYTES:
            stream = disk.open_stream(ref)
            try:
                zf = _open_zip(stream)
                index = _index(_file_infos(zf))
            except BaseException:
                stream.close()
                raise
            return _OpenArchive(zf, index, identity, 0, stream)
        data = disk.read_location(ref)
        zf = _open_zip(io.BytesIO(data))
        try:
            index = _index(_file_infos(zf))
        except BaseException:
            zf.close()
            raise
        return _OpenArchive(zf, index, identity, len(data))
    if not chain:
        fh = open_readonly(raw_path)
        try:
            identity = _identity(os.fstat(fh.fileno()))
            zf = _open_zip(fh)
            index = _index(_file_infos(zf))
        except BaseException:
            fh.close()
            raise
        return _OpenArchive(zf, index, identity, 0, fh)
    with _borrow(raw_path, chain[:-1], address) as parent:
        data = _read_info(parent.zf, _find_info(parent.index, chain[-1]))
        identity = parent.identity
    zf = _open_zip(io.BytesIO(data))
    try:
        index = _index(_file_infos(zf))
    except BaseException:
        zf.close()
        raise
    return _OpenArchive(zf, index, identity, len(data))


@contextmanager
def _borrow(
    raw_path: bytes, chain: tuple[str, ...], address: str | None = None
) -> Iterator[_OpenArchive]:
    key = (raw_path, chain)
    with _cache_lock:
        archive = _cache.get(key)
        if archive is not None:
            try:
                current = _identity(os.stat(raw_path))
            except OSError:
                current = None
            if current == archive.identity:
                _cache.move_to_end(key)
                yield archive
                return
            # the evidence changed (or vanished) since it was opened: open it afresh
            del _cache[key]
            archive.close()
        archive = _open_archive(raw_path, chain, address)
        if archive.nbytes > MAX_CACHED_NESTED_BYTES:
            try:
                yield archive
            finally:
                archive.close()
            return
        _cache[key] = archive
        while len(_cache) > MAX_OPEN_ARCHIVES or _cached_bytes() > MAX_CACHED_NESTED_BYTES:
            oldest_key, oldest = next(iter(_cache.items()))
            if oldest_key == key:
                break
            del _cache[oldest_key]
            oldest.close()
        yield archive


def read_location(raw_path: bytes, chain: tuple[str, ...], address: str | None = None) -> bytes:
    """The bytes of member ``chain[-1]`` of the archive reached from the file ``raw_path``
    through ``chain[:-1]``. Archives on the way are kept open for the next member. When
    ``chain[0]`` is a disk element the outermost archive is that file of the disk image
    (``address``: where its file system keeps it)."""
    if not chain:
        raise ValueError("read_location needs a member chain")
    if len(chain) - 1 > MAX_ARCHIVE_DEPTH:
        raise ItemError(Code.ARCHIVE_TOO_DEEP, f"archives nested deeper than {MAX_ARCHIVE_DEPTH}")
    try:
        with _borrow(raw_path, chain[:-1], address) as archive:
            return _read_info(archive.zf, _find_info(archive.index, chain[-1]))
    except (ItemError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a crafted header may trip anything in zipfile
        raise _as_item_error(exc, "cannot read the archive") from None
