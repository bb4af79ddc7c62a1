"""Open evidence strictly read-only.

Files are opened O_RDONLY, and with O_NOATIME where the OS allows it, so that even the access
time of the evidence is left as found (forensic practice; not possible on every file system).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

from consentry.records.problems import Code, ItemError

_NOATIME = getattr(os, "O_NOATIME", 0)


def open_readonly(raw_path: bytes) -> BinaryIO:
    """Open a regular file; anything else (pipe, device, folder) is refused, never waited on."""
    # O_NONBLOCK: opening a FIFO read-only otherwise waits for a writer forever (a path can
    # become a FIFO after the inventory saw a file); it changes nothing for regular files.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        try:
            fd = os.open(raw_path, flags | _NOATIME)
        except PermissionError:
            if not _NOATIME:
                raise
            # O_NOATIME needs ownership of the file; fall back to a plain read-only open
            fd = os.open(raw_path, flags)
    except OSError as exc:
        raise _as_item_error(exc) from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError as exc:
        os.close(fd)
        raise _as_item_error(exc) from None
    if not regular:
        os.close(fd)
        raise ItemError(Code.NOT_REGULAR_FILE, "device, pipe, socket or folder: not read")
    return os.fdopen(fd, "rb")


def _as_item_error(exc: OSError) -> ItemError:
    if exc.errno == errno.ENOENT:
        return ItemError(Code.MISSING, "file disappeared before it could be read")
    if exc.errno == errno.ELOOP:
        return ItemError(Code.SYMLINK_LOOP, "symbolic link loops back on itself")
    return ItemError(Code.UNREADABLE, f"cannot read: {exc.strerror or exc}")


def read_all(fh: BinaryIO) -> bytes:
    try:
        return fh.read()
    except OSError as exc:
        raise _as_item_error(exc) from None
