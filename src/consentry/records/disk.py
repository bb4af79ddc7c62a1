"""What a disk image is and holds, as the store keeps it and reports show it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VolumeInfo:
    """One partition (or the whole image when it holds a bare file system)."""

    name: str  # "p1", "p2" ... in partition-table order; "p0" for a bare file system
    start_bytes: int
    length_bytes: int
    description: str  # the partition table's words, e.g. "NTFS / exFAT (0x07)"
    filesystem: str | None  # "NTFS", "FAT32", "Ext4", ...; None when none could be opened
    problem: str | None = None  # why it could not be read (a volume_unreadable problem)


@dataclass(frozen=True)
class DiskImageInfo:
    """A disk image named as a source: format, segments, volumes, the check of its hashes."""

    source_id: int
    path: str  # as shown (the first segment)
    format: str  # raw | ewf
    segments: list[str]
    media_size: int | None
    volumes: list[VolumeInfo] = field(default_factory=list)
    stored_md5: str | None = None
    stored_sha1: str | None = None
    computed_md5: str | None = None
    computed_sha1: str | None = None
    # verified | mismatch | no_stored_hash (raw images, E01 acquired without) | not_verified |
    # error (reading the media failed part-way: message says where)
    verification: str = "not_verified"
    verified_at: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class DeletedFile:
    """A deleted entry in a disk image's file system, as reports list it."""

    location_id: int
    path: str  # laptop.E01!p2/Users/x/a.jpg
    size: int | None
    recovery: str  # recovered | partial | unrecoverable
    mtime_ns: int | None
    atime_ns: int | None
    ctime_ns: int | None
    crtime_ns: int | None
    sha256: str | None  # of the recovered content (None when unrecoverable)
