"""Open zip archives read-only, in memory, defending against hostile archives.

Nothing is ever extracted to disk, so a member named ``../../etc/passwd`` cannot escape anywhere;
it is still flagged, because such names are a sign of a crafted archive.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from .problems import Code, ItemError, Problem

# Limits against zip bombs. A member may declare any size; we believe neither the header nor the
# ratio alone: a member is refused if it declares more than MAX_MEMBER_BYTES, or if it expands more
# than MAX_RATIO times while being larger than RATIO_FLOOR_BYTES, and reading stops at the limit
# whatever the header said.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
MAX_MEMBERS = 100_000
# Archives inside archives are followed this deep (a zip quine would otherwise never end).
MAX_ARCHIVE_DEPTH = 4


@dataclass
class MemberInfo:
    name: str
    size: int
    mtime_ns: int | None
    problems: list[Problem] = field(default_factory=list)
    readable: bool = True


def _zip_time_ns(date_time: tuple[int, int, int, int, int, int]) -> int | None:
    # Zip times carry no time zone; they are recorded as written, read as UTC.
    try:
        return int(datetime(*date_time, tzinfo=UTC).timestamp()) * 1_000_000_000
    except ValueError:
        return None


def _is_unsafe(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def list_members(stream: BinaryIO) -> list[MemberInfo]:
    """List the file members of a zip, with the problems visible from its directory."""
    try:
        zf = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ItemError(Code.CORRUPT_ARCHIVE, f"not a readable zip archive: {exc}") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
    if len(infos) > MAX_MEMBERS:
        raise ItemError(
            Code.ZIP_BOMB, f"{len(infos):,} members exceed the limit of {MAX_MEMBERS:,}"
        )
    members: list[MemberInfo] = []
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            # duplicate names in one archive: only the last can be addressed by name
            continue
        seen.add(info.filename)
        member = MemberInfo(info.filename, info.file_size, _zip_time_ns(info.date_time))
        if _is_unsafe(info.filename):
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


def _bomb_reason(size: int, compressed: int) -> str | None:
    if size > MAX_MEMBER_BYTES:
        return f"declares {size:,} bytes, over the {MAX_MEMBER_BYTES:,}-byte limit"
    if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * max(compressed, 1):
        return f"expands {size / max(compressed, 1):,.0f}x ({compressed:,} -> {size:,} bytes)"
    return None


def read_member(stream: BinaryIO, name: str) -> bytes:
    """Read one member fully, stopping at the bomb limits whatever its header claims."""
    try:
        with zipfile.ZipFile(stream) as zf:
            info = zf.getinfo(name)
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
    except ItemError:
        raise
    except KeyError:
        raise ItemError(Code.MISSING, f"member {name!r} is no longer in the archive") from None
    except RuntimeError as exc:  # zipfile's "is encrypted, password required"
        raise ItemError(Code.ENCRYPTED_MEMBER, str(exc)) from None
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise ItemError(Code.CORRUPT_ARCHIVE, f"cannot read member {name!r}: {exc}") from None


@contextmanager
def open_chain(outer: BinaryIO, chain: tuple[str, ...]) -> Iterator[BinaryIO]:
    """Yield a stream of the archive reached by following ``chain`` (all but the last member)."""
    if len(chain) > MAX_ARCHIVE_DEPTH:
        raise ItemError(Code.ARCHIVE_TOO_DEEP, f"archives nested deeper than {MAX_ARCHIVE_DEPTH}")
    stream: BinaryIO = outer
    for name in chain:
        stream = io.BytesIO(read_member(stream, name))
    yield stream
