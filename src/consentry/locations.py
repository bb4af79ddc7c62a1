"""Where a piece of content was found: a file on disk, or a member inside (nested) archives.

Paths are kept as the raw bytes the file system gave us, because a seized disk can hold names
that are not valid UTF-8 and we must be able to reopen exactly that file. ``display`` is the
readable form used in reports (undecodable bytes shown as ``\\xNN``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

ARCHIVE_SEPARATOR = "!/"


def display_bytes_path(raw: bytes) -> str:
    return raw.decode("utf-8", errors="backslashreplace")


def is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True)
class LocationRef:
    raw_path: bytes  # the file on disk (for an archive member: the outermost archive)
    member_chain: tuple[str, ...] = ()  # names inside archives, outermost first

    @property
    def display(self) -> str:
        return display_bytes_path(self.raw_path) + "".join(
            ARCHIVE_SEPARATOR + m for m in self.member_chain
        )

    @property
    def key(self) -> str:
        """Stable unique key (hex) for the store: identical for every run over the same evidence."""
        h = hashlib.sha256(self.raw_path)
        for member in self.member_chain:
            h.update(b"\x00")
            h.update(member.encode("utf-8", errors="surrogatepass"))
        return h.hexdigest()

    @property
    def name(self) -> str:
        if self.member_chain:
            return self.member_chain[-1].rsplit("/", 1)[-1]
        return display_bytes_path(os.path.basename(self.raw_path))

    def child(self, member: str) -> LocationRef:
        return LocationRef(self.raw_path, (*self.member_chain, member))
