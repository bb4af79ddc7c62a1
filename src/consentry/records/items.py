"""The records that cross layer boundaries: what the inventory found, what a worker was asked
to do and what it returns (hashes, findings, faces, thumbnail), as plain dataclasses.

They live at the bottom layer so that the store can persist them and the scan can produce them
without either importing the other; everything here is picklable (it crosses process
boundaries) and holds no behaviour beyond small derived properties.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consentry.records.locations import LocationRef
from consentry.records.problems import Problem


@dataclass(frozen=True)
class ThumbnailRecord:
    sha256: str
    path: str  # relative to the case folder
    blurred: bool
    label: str


@dataclass
class FindingRecord:
    sha256: str
    analyzer: str
    analyzer_version: str
    model_sha256: str | None
    status: str  # ok | error
    label: str | None
    score: float | None
    payload: str  # JSON


@dataclass
class FaceRecord:
    sha256: str
    face_index: int
    box_x: float
    box_y: float
    box_w: float
    box_h: float
    analysis_side: int
    landmarks: str
    detector_score: float
    size_px: float
    sharpness: float | None
    frontalness: float
    usable: bool
    flags: str
    embedding: bytes | None
    crop_path: str | None
    frame_s: float | None = None  # in a video: the time of the frame the face was found in


@dataclass
class ImageAnalysis:
    findings: list[FindingRecord] = field(default_factory=list)
    faces: list[FaceRecord] = field(default_factory=list)
    thumbnail: ThumbnailRecord | None = None


@dataclass(frozen=True)
class FileSystemMeta:
    """What a disk image's file system says about one file (absent for files on the examiner's
    own disk, whose metadata is the inventory's size and mtime)."""

    inode: str  # the file system's address, e.g. "1234-128-3" (TSK inode-type-id)
    deleted: bool = False  # the name (or the metadata) is no longer allocated
    # allocated: a live file | recovered: deleted, its content read back from blocks no other
    # file holds | partial: deleted, only part of the content could be read | unrecoverable:
    # deleted, nothing of the content is left (only name, size and times are known)
    recovery: str = "allocated"
    atime_ns: int | None = None
    ctime_ns: int | None = None  # metadata change (NTFS: MFT change; FAT: none)
    crtime_ns: int | None = None  # creation (birth) time


@dataclass
class FoundFile:
    ref: LocationRef
    rel_path: str  # relative to the source root, for folder-level reports
    size: int | None
    mtime_ns: int | None
    readable: bool = True
    problems: list[Problem] = field(default_factory=list)
    fs: FileSystemMeta | None = None  # set for files inside a disk image


@dataclass(frozen=True)
class WorkItem:
    location_id: int
    ref: LocationRef
    rel_path: str
    # Set for re-analysis of content already in the store (a newly enabled analyzer): only the
    # analyzers in ``needs`` run, on bytes that must still hash to ``expected_sha256``.
    needs: frozenset[str] | None = None
    expected_sha256: str | None = None
    known_label: str | None = None


@dataclass
class ContentRecord:
    sha256: str
    md5: str
    sha1: str
    size: int
    mime: str
    is_image: bool = False
    image_format: str | None = None
    width: int | None = None
    height: int | None = None
    color_mode: str | None = None
    frames: int | None = None
    orientation: int | None = None
    exif_json: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_dihedral: str | None = None  # 8 hex hashes joined by ","
    # videos (MP4, MOV, WebM, MKV, AVI): width/height/frames above describe the video stream
    is_video: bool = False
    duration_s: float | None = None
    video_codec: str | None = None


@dataclass(frozen=True)
class VideoFrameHash:
    """One vPDQ feature of a video: the PDQ hash of the frame shown at ``timestamp_s``
    (compatible with Meta's ``vpdq``: frame number, quality and time as it reports them)."""

    sha256: str  # the video's content
    frame_number: int
    timestamp_s: float
    pdq: str  # 64 hex
    quality: int


@dataclass
class ChildLocation:
    ref: LocationRef
    rel_path: str
    size: int | None
    mtime_ns: int | None
    readable: bool
    problems: list[Problem] = field(default_factory=list)


@dataclass
class WorkResult:
    location_id: int
    content: ContentRecord | None = None
    location_problems: list[Problem] = field(default_factory=list)
    content_problems: list[Problem] = field(default_factory=list)
    children: list[ChildLocation] = field(default_factory=list)
    analysis: ImageAnalysis | None = None
    reanalysis: bool = False
    video_hashes: list[VideoFrameHash] = field(default_factory=list)
