"""Walk the sources an examiner named and list every file in them, touching nothing.

Directory symlinks are not followed (they cause loops and count the same evidence twice); file
symlinks whose target lies inside the same source are followed and recorded under the path where
they were found. A link that points out of the source (``IMG_1.jpg -> /home/examiner/me.jpg``,
``env.txt -> /proc/self/environ``) is recorded with its target path and never read: what lies
outside the evidence is not evidence. A source that is itself a link to a folder is the folder
the examiner named: it is walked (once; links inside it are treated as above). Order is sorted by
raw name so that every run over the same evidence lists the same files in the same order.

A source has a kind (``SOURCE_KINDS``: folder, disk image, file), each telling itself apart
(``detect``) and listing its locations (``open``); the scan asks ``source_kind`` and records the
kind's name in ``sources.kind``. A disk image is a source only when named as one: an ``.E01``
met inside a folder is a file of that folder (hashed, not opened).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from consentry.records.disk import DiskImageInfo
from consentry.records.items import FoundFile
from consentry.records.locations import LocationRef, display_bytes_path, is_utf8
from consentry.records.problems import Code, Problem


class SourceError(Exception):
    """A source the examiner named cannot be used at all (misuse, not a per-item problem)."""


def source_root(path: str) -> bytes:
    raw = os.fsencode(os.path.abspath(path))
    if not os.path.lexists(raw):
        raise SourceError(f"source does not exist: {path}")
    return raw


# -- kinds of source ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenOptions:
    """What opening a source may need from the scan: the disk-image record an earlier run of
    the case wrote (its hash check is kept, not redone), and where to report bytes read while
    a whole image is hashed."""

    previous_image: DiskImageInfo | None = None
    on_bytes: Callable[[int, int], None] | None = None


@dataclass
class SourceListing:
    """An opened source: its locations (a lazy, deterministic iterator), and for a disk image
    its record (``source_id`` 0: the scan sets it) and whether its hashes were checked now."""

    files: Iterator[FoundFile]
    disk_image: DiskImageInfo | None = None
    verified_now: bool = False


class SourceKind(Protocol):
    """One kind of source (``sources.kind``): how to tell it, and how to list what it holds."""

    name: str

    def detect(self, root: bytes) -> bool: ...

    def open(self, root: bytes, options: OpenOptions) -> SourceListing: ...


class FolderSource:
    """A folder (or a link to one, as named): walked recursively, see ``walk_source``."""

    name = "folder"

    def detect(self, root: bytes) -> bool:
        return os.path.isdir(root)

    def open(self, root: bytes, options: OpenOptions) -> SourceListing:
        return SourceListing(walk_source(root))


class DiskImageSource:
    """A disk image (raw or E01 with its segments): its volumes' files, deleted ones too
    (``media.disk``). TSK and libewf are loaded only when a file may be one."""

    name = "disk_image"

    def detect(self, root: bytes) -> bool:
        return self.format(root) is not None

    @staticmethod
    def format(root: bytes) -> str | None:
        if os.path.isdir(root):
            return None
        from consentry.media import disk

        return disk.image_format(root)

    def open(self, root: bytes, options: OpenOptions) -> SourceListing:
        from consentry.media import disk

        fmt = self.format(root) or "raw"
        inspection = disk.inspect_image(root, fmt, options.previous_image, options.on_bytes)
        return SourceListing(
            disk.walk_image(inspection),
            inspection.info,
            inspection.verified_now,
        )


class FileSource:
    """A single file named as the source (anything that is neither of the above)."""

    name = "file"

    def detect(self, root: bytes) -> bool:
        return True

    def open(self, root: bytes, options: OpenOptions) -> SourceListing:
        return SourceListing(walk_source(root))


# tried in order; the last takes anything
SOURCE_KINDS: tuple[SourceKind, ...] = (FolderSource(), DiskImageSource(), FileSource())


def source_kind(root: bytes) -> SourceKind:
    """The kind of the source at ``root`` (a folder, a disk image, or a plain file)."""
    for kind in SOURCE_KINDS:
        if kind.detect(root):
            return kind
    return SOURCE_KINDS[-1]


def walk_source(root: bytes) -> Iterator[FoundFile]:
    """Every file under ``root`` (or ``root`` itself when it is a file). A root that is a link
    to a folder is walked like the folder (it is what the examiner named)."""
    if os.path.isdir(root):
        yield from _walk_dir(root, root, _Bounds(os.path.realpath(root)))
    else:
        # a single file named as the source: followed wherever a link leads (it was named)
        yield _found(root, os.path.dirname(root), None)


@dataclass(frozen=True)
class _Bounds:
    """The real path of a folder source: links may lead anywhere inside it, nowhere else."""

    real_root: bytes

    def contains(self, real_path: bytes) -> bool:
        root = self.real_root.rstrip(b"/") + b"/"
        return real_path == self.real_root or real_path.startswith(root)


def _walk_dir(directory: bytes, base: bytes, bounds: _Bounds) -> Iterator[FoundFile]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield FoundFile(
            LocationRef(directory),
            _rel(directory, base),
            None,
            None,
            readable=False,
            problems=[Problem(Code.UNREADABLE, f"cannot list folder: {exc.strerror or exc}")],
        )
        return
    for entry in entries:
        path = entry.path
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk_dir(path, base, bounds)
        else:
            yield _found(path, base, bounds)


def _found(path: bytes, base: bytes, bounds: _Bounds | None) -> FoundFile:
    ref = LocationRef(path)
    rel = _rel(path, base)
    problems: list[Problem] = []
    if not is_utf8(path):
        problems.append(
            Problem(Code.NON_UTF8_NAME, "file name is not valid UTF-8; shown with \\x escapes")
        )
    try:
        lst = os.lstat(path)
    except OSError as exc:
        return FoundFile(ref, rel, None, None, False, [*problems, _os_problem(exc)])
    if stat.S_ISLNK(lst.st_mode):
        try:
            st = os.stat(path)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                problem = Problem(Code.SYMLINK_LOOP, "symbolic link loops back on itself")
            elif exc.errno == errno.ENOENT:
                target = display_bytes_path(os.readlink(path))
                problem = Problem(Code.BROKEN_SYMLINK, f"symbolic link to missing {target}")
            else:
                problem = _os_problem(exc)
            return FoundFile(ref, rel, None, lst.st_mtime_ns, False, [*problems, problem])
        if stat.S_ISDIR(st.st_mode):
            problems.append(
                Problem(Code.SYMLINK_DIR_NOT_FOLLOWED, "link to a folder: not followed")
            )
            return FoundFile(ref, rel, None, lst.st_mtime_ns, False, problems)
        if bounds is not None and (outside := _outside(path, bounds)):
            problems.append(Problem(Code.SYMLINK_OUTSIDE_SOURCE, outside))
            return FoundFile(ref, rel, None, lst.st_mtime_ns, False, problems)
    else:
        st = lst
    if not stat.S_ISREG(st.st_mode):
        problems.append(Problem(Code.NOT_REGULAR_FILE, "device, pipe or socket: not read"))
        return FoundFile(ref, rel, None, st.st_mtime_ns, False, problems)
    return FoundFile(ref, rel, st.st_size, st.st_mtime_ns, True, problems)


def _outside(link: bytes, bounds: _Bounds) -> str | None:
    """Why the link at ``link`` is not read, when its target lies outside the source."""
    real = os.path.realpath(link)
    if bounds.contains(real):
        return None
    try:
        target = os.readlink(link)
    except OSError:
        target = real
    shown = display_bytes_path(target)
    if os.path.isabs(target) and os.path.normpath(target) == real:
        where = shown
    else:
        where = f"{shown} (resolves to {display_bytes_path(real)})"
    return f"symbolic link to {where}, outside the source: recorded, not read"


def _os_problem(exc: OSError) -> Problem:
    if exc.errno == errno.ENOENT:
        return Problem(Code.MISSING, "file disappeared before it could be read")
    return Problem(Code.UNREADABLE, f"cannot read: {exc.strerror or exc}")


def _rel(path: bytes, base: bytes) -> str:
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        rel = path
    return display_bytes_path(rel)
