"""Where a piece of content was found: a file on disk, or a member inside (nested) archives.

Paths are kept as the raw bytes the file system gave us, because a seized disk can hold names
that are not valid UTF-8 and we must be able to reopen exactly that file. ``display`` is the
readable form used in reports (undecodable bytes shown as ``\\xNN``).

An archive may hold several members with the same name. Each is a distinct location: the first
is addressed by its name alone (so the keys of existing cases do not change), the n-th (n >= 2)
by ``name + "\\x00" + str(n)`` in the member chain. A NUL never occurs in a member name (zip
readers, Python's included, cut names at the first NUL), so the element is unambiguous; use
``member_element`` / ``split_member`` rather than building or parsing it by hand.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

ARCHIVE_SEPARATOR = "!/"
_OCCURRENCE_MARK = "\x00"
# The first element of a chain that addresses a file inside a disk image starts with this mark:
# ``"\x01p2/Users/x/a.jpg"`` is the file ``/Users/x/a.jpg`` of the image's volume ``p2``. Zip
# member names never start with it (archives refuses such members), so a chain says by itself
# which of its elements is a path in a disk image. Shown as ``laptop.E01!p2/Users/x/a.jpg``.
DISK_MARK = "\x01"
DISK_SEPARATOR = "!"


def disk_element(volume: str, path: str, occurrence: int = 1) -> str:
    """The chain element for ``path`` (``/Users/x/a.jpg``) on ``volume`` (``p2``) of an image;
    the n-th entry of a folder with the same name (a deleted file beside a live one) is n."""
    return member_element(DISK_MARK + volume + "/" + path.lstrip("/"), occurrence)


def is_disk_element(element: str) -> bool:
    return element.startswith(DISK_MARK)


def split_disk_element(element: str) -> tuple[str, str, int]:
    """``(volume, path, occurrence)`` of a disk element (path with a leading ``/``)."""
    name, occurrence = split_member(element)
    volume, _, path = name[len(DISK_MARK) :].partition("/")
    return volume, "/" + path, occurrence


def element_display(element: str) -> str:
    """How one chain element is shown after the file it is in (separator included)."""
    if is_disk_element(element):
        return DISK_SEPARATOR + member_display(element)[len(DISK_MARK) :]
    return ARCHIVE_SEPARATOR + member_display(element)


def member_element(name: str, occurrence: int = 1) -> str:
    """The member-chain element for the ``occurrence``-th (1-based) member called ``name``."""
    return name if occurrence <= 1 else f"{name}{_OCCURRENCE_MARK}{occurrence}"


def split_member(element: str) -> tuple[str, int]:
    """``(name, occurrence)`` of a member-chain element (occurrence 1 for a plain name)."""
    name, mark, occurrence = element.partition(_OCCURRENCE_MARK)
    if mark and occurrence.isdigit():
        return name, int(occurrence)
    return name, 1


def member_display(element: str) -> str:
    """How a member-chain element is shown: its name, and which duplicate it is."""
    name, occurrence = split_member(element)
    return name if occurrence == 1 else f"{name} (duplicate {occurrence})"


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
    # Where the disk image's file system keeps the file of a disk element (``member_chain[0]``),
    # e.g. ``"p2:1234-128-3"`` (volume, TSK inode-type-id): lets a worker reopen a deleted file
    # without a second walk. Not part of the key or of equality (the chain alone names the place).
    address: str | None = field(default=None, compare=False)

    @property
    def display(self) -> str:
        return display_bytes_path(self.raw_path) + "".join(
            element_display(m) for m in self.member_chain
        )

    @property
    def in_disk_image(self) -> bool:
        return bool(self.member_chain) and is_disk_element(self.member_chain[0])

    @property
    def key(self) -> str:
        """Stable unique key (hex) for the store: identical for every run over the same evidence."""
        h = hashlib.sha256(self.raw_path)
        for member in self.member_chain:
            name, occurrence = split_member(member)
            h.update(b"\x00")
            h.update(name.encode("utf-8", errors="surrogatepass"))
            if occurrence > 1:
                # 0xFF never occurs in UTF-8, so no other chain can hash the same bytes
                h.update(b"\xff" + str(occurrence).encode())
        return h.hexdigest()

    @property
    def name(self) -> str:
        if self.member_chain:
            return split_member(self.member_chain[-1])[0].rsplit("/", 1)[-1].lstrip(DISK_MARK)
        return display_bytes_path(os.path.basename(self.raw_path))

    def child(self, member: str) -> LocationRef:
        return LocationRef(self.raw_path, (*self.member_chain, member), self.address)
