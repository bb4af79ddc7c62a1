"""Open evidence strictly read-only.

Files are opened O_RDONLY, and with O_NOATIME where the OS allows it, so that even the access
time of the evidence is left as found (forensic practice; not possible on every file system).
"""

from __future__ import annotations

import errno
import os
from typing import BinaryIO

from .problems import Code, ItemError

_NOATIME = getattr(os, "O_NOATIME", 0)


def open_readonly(raw_path: bytes) -> BinaryIO:
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
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
