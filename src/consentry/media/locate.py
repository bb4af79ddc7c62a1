"""Read the bytes at any location, whatever holds them: a file on the examiner's disk, a member
of (nested) zip archives, or a file inside a disk image (raw or E01), possibly with archives
inside it. The one entry point workers and case-level passes use to read evidence.

Every path here is read-only: files are opened ``O_RDONLY`` (``reader``), archives are read in
memory (``archives``), disk images through The Sleuth Kit without writing (``disk``).
"""

from __future__ import annotations

from consentry.media import archives
from consentry.media.reader import open_readonly, read_all
from consentry.records.locations import LocationRef


def read_bytes(ref: LocationRef) -> bytes:
    """The whole content at ``ref``; failures raise ``ItemError`` with a stable code."""
    if not ref.member_chain:
        with open_readonly(ref.raw_path) as fh:
            return read_all(fh)
    if ref.in_disk_image and len(ref.member_chain) == 1:
        from consentry.media import disk  # pytsk3/pyewf load only when a disk image is met

        return disk.read_location(ref)
    # archives on the way stay open in this process for the next member (see archives); the
    # outermost one may be a file inside a disk image (``ref.address`` says where)
    return archives.read_location(ref.raw_path, ref.member_chain, ref.address)
