"""Stable codes for what can go wrong with one item.

Per-item failures are values, not exceptions: a scan records them and goes on. The codes are
part of the case format (reports and other tools key on them), so never rename one; add new
ones instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the item could not be (fully) analysed
    WARNING = "warning"  # analysed, but something about it deserves the examiner's attention


class Code(StrEnum):
    # reading the file
    EMPTY_FILE = "empty_file"
    UNREADABLE = "unreadable"
    MISSING = "missing"
    SYMLINK_LOOP = "symlink_loop"
    BROKEN_SYMLINK = "broken_symlink"
    SYMLINK_DIR_NOT_FOLLOWED = "symlink_dir_not_followed"
    SYMLINK_OUTSIDE_SOURCE = "symlink_outside_source"
    NOT_REGULAR_FILE = "not_regular_file"
    NON_UTF8_NAME = "non_utf8_name"
    TOO_LARGE_FOR_ANALYSIS = "too_large_for_analysis"
    # content type and decoding
    WRONG_EXTENSION = "wrong_extension"
    UNRECOGNIZED_IMAGE = "unrecognized_image"
    TRUNCATED_IMAGE = "truncated_image"
    CORRUPT_IMAGE = "corrupt_image"
    DECOMPRESSION_BOMB = "decompression_bomb"
    ANIMATED_IMAGE = "animated_image"
    LOW_PDQ_QUALITY = "low_pdq_quality"
    UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"  # an image type not decoded here
    METADATA_TOO_LARGE = "metadata_too_large"  # text metadata over its budget, not all read
    # archives
    CORRUPT_ARCHIVE = "corrupt_archive"
    ENCRYPTED_MEMBER = "encrypted_member"
    ZIP_BOMB = "zip_bomb"
    UNSAFE_MEMBER_PATH = "unsafe_member_path"
    ARCHIVE_TOO_DEEP = "archive_too_deep"
    UNSUPPORTED_ARCHIVE = "unsupported_archive"
    DUPLICATE_MEMBER_NAME = "duplicate_member_name"
    ARCHIVE_IN_FILE = "archive_in_file"
    HIDDEN_ARCHIVE_MEMBERS = "hidden_archive_members"
    # disk images (raw, E01) and their volumes and file systems
    DISK_IMAGE_UNREADABLE = "disk_image_unreadable"  # not opened at all (corrupt, unsupported)
    IMAGE_SEGMENT_MISSING = "image_segment_missing"  # E01 split into .E01/.E02..: one is absent
    IMAGE_HASH_MISMATCH = "image_hash_mismatch"  # E01's stored MD5/SHA-1 differ from its data
    VOLUME_UNREADABLE = "volume_unreadable"  # corrupt partition table or unreadable partition
    FILESYSTEM_UNREADABLE = "filesystem_unreadable"  # a partition whose file system TSK cannot open
    DELETED_FILE = "deleted_file"  # a deleted file, recovered and analysed
    DELETED_UNRECOVERABLE = "deleted_unrecoverable"  # a deleted entry whose content is gone
    DELETED_PARTIAL = "deleted_partial"  # a deleted file of which only part could be read
    # videos
    CORRUPT_VIDEO = "corrupt_video"  # no frame could be decoded
    VIDEO_PARTLY_DECODED = "video_partly_decoded"  # decoding stopped part-way; frames so far kept
    VIDEO_TOO_LONG = "video_too_long"  # past the frame budget: the rest is hashed, not analysed
    # traces of creation (browser profiles)
    BROWSER_DB_UNREADABLE = "browser_db_unreadable"
    # the analysis itself: a bug or a native crash met on this item, never the scan's end
    INTERNAL_ERROR = "internal_error"
    WORKER_LOST = "worker_lost"
    ITEM_TIMEOUT = "item_timeout"
    # read-only guarantee, checked at the end of every scan
    SOURCE_CHANGED = "source_changed"
    SOURCE_MISSING = "source_missing"


SEVERITY: dict[Code, Severity] = {
    Code.NON_UTF8_NAME: Severity.WARNING,
    Code.WRONG_EXTENSION: Severity.WARNING,
    Code.ANIMATED_IMAGE: Severity.WARNING,
    Code.LOW_PDQ_QUALITY: Severity.WARNING,
    Code.UNSUPPORTED_IMAGE_FORMAT: Severity.WARNING,
    Code.METADATA_TOO_LARGE: Severity.WARNING,
    Code.UNSAFE_MEMBER_PATH: Severity.WARNING,
    Code.SYMLINK_DIR_NOT_FOLLOWED: Severity.WARNING,
    Code.SYMLINK_OUTSIDE_SOURCE: Severity.WARNING,
    Code.DUPLICATE_MEMBER_NAME: Severity.WARNING,
    Code.ARCHIVE_IN_FILE: Severity.WARNING,
    Code.TOO_LARGE_FOR_ANALYSIS: Severity.WARNING,
    Code.DELETED_FILE: Severity.WARNING,
    Code.DELETED_UNRECOVERABLE: Severity.WARNING,
    Code.DELETED_PARTIAL: Severity.WARNING,
    Code.VIDEO_PARTLY_DECODED: Severity.WARNING,
    Code.VIDEO_TOO_LONG: Severity.WARNING,
}


@dataclass(frozen=True)
class Problem:
    code: Code
    message: str

    @property
    def severity(self) -> Severity:
        return SEVERITY.get(self.code, Severity.ERROR)


class ItemError(Exception):
    """Raised inside a worker for a per-item failure; converted to a Problem at the boundary."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def problem(self) -> Problem:
        return Problem(self.code, self.message)
