"""Tables of the case store. Changing them means adding an Alembic migration in migrations/.

Item tables (sources, locations, contents, problems) hold only what follows from the evidence,
never which run produced a row: an interrupted and resumed scan must leave exactly the store an
uninterrupted one does. Runs are described in ``scans`` and ``audit_events``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HEX256 = String(64)


class Base(DeclarativeBase):
    pass


class CaseInfo(Base):
    __tablename__ = "case_info"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Scan(Base):
    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))  # running | completed | failed | interrupted
    examiner: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(String(32))
    sources_json: Mapped[str] = mapped_column(Text)
    summary_json: Mapped[str | None] = mapped_column(Text)


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path_key: Mapped[str] = mapped_column(HEX256, unique=True)
    path: Mapped[str] = mapped_column(Text)
    raw_path: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(16))  # folder | file | disk_image


class Location(Base):
    """One place where content was found: a file on disk or a member of an archive."""

    __tablename__ = "locations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path_key: Mapped[str] = mapped_column(HEX256, unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), index=True)
    path: Mapped[str] = mapped_column(Text)  # as found, archive members as a.zip!/inner/x.jpg
    rel_path: Mapped[str] = mapped_column(Text)  # relative to the source root
    raw_path: Mapped[bytes] = mapped_column(LargeBinary)  # the file on disk, exact bytes
    member_chain: Mapped[str] = mapped_column(Text)  # JSON list of archive member names
    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(ForeignKey("contents.sha256"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # pending | done
    # inside a disk image (see records.items.FileSystemMeta); null for files on a plain disk
    address: Mapped[str | None] = mapped_column(Text)  # e.g. "p2:1234-128-3"
    deleted: Mapped[bool | None] = mapped_column(Boolean)
    recovery: Mapped[str | None] = mapped_column(String(16))  # allocated|recovered|partial|...
    atime_ns: Mapped[int | None] = mapped_column(BigInteger)
    ctime_ns: Mapped[int | None] = mapped_column(BigInteger)
    crtime_ns: Mapped[int | None] = mapped_column(BigInteger)


class Content(Base):
    """Unique bytes (by SHA-256) with everything computed from them."""

    __tablename__ = "contents"
    sha256: Mapped[str] = mapped_column(HEX256, primary_key=True)
    md5: Mapped[str] = mapped_column(String(32), index=True)
    sha1: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(80))
    is_image: Mapped[bool] = mapped_column(Boolean)
    image_format: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    color_mode: Mapped[str | None] = mapped_column(String(16))
    frames: Mapped[int | None] = mapped_column(Integer)
    orientation: Mapped[int | None] = mapped_column(Integer)
    exif_json: Mapped[str | None] = mapped_column(Text)
    pdq: Mapped[str | None] = mapped_column(HEX256, index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    pdq_dihedral: Mapped[str | None] = mapped_column(Text)
    is_video: Mapped[bool | None] = mapped_column(Boolean)
    duration_s: Mapped[float | None] = mapped_column(Float)
    video_codec: Mapped[str | None] = mapped_column(String(32))


class LocationProblem(Base):
    __tablename__ = "location_problems"
    __table_args__ = (UniqueConstraint("location_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)


class ContentProblem(Base):
    __tablename__ = "content_problems"
    __table_args__ = (UniqueConstraint("sha256", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)


class Finding(Base):
    """One analyzer's result for one content, with the method that produced it."""

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("sha256", "analyzer"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    analyzer: Mapped[str] = mapped_column(String(32), index=True)
    analyzer_version: Mapped[str] = mapped_column(String(16))
    model_sha256: Mapped[str | None] = mapped_column(Text)  # "a,b" when two model files
    status: Mapped[str] = mapped_column(String(16))  # ok | error
    label: Mapped[str | None] = mapped_column(String(32), index=True)  # e.g. explicit label
    score: Mapped[float | None] = mapped_column(Float)
    payload: Mapped[str] = mapped_column(Text)  # JSON details (regions, counts, error)


class FaceRow(Base):
    """A face found in a content; the embedding is a float32 blob (128 x 4 bytes)."""

    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("sha256", "face_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    face_index: Mapped[int] = mapped_column(Integer)
    # box in pixels of the analysed picture (orientation applied, fit to analysis_side)
    box_x: Mapped[float] = mapped_column(Float)
    box_y: Mapped[float] = mapped_column(Float)
    box_w: Mapped[float] = mapped_column(Float)
    box_h: Mapped[float] = mapped_column(Float)
    analysis_side: Mapped[int] = mapped_column(Integer)
    landmarks: Mapped[str] = mapped_column(Text)  # JSON [[x, y] x 5]
    detector_score: Mapped[float] = mapped_column(Float)
    size_px: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float | None] = mapped_column(Float)
    frontalness: Mapped[float] = mapped_column(Float)
    usable: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[str] = mapped_column(Text)  # comma-separated reasons when not usable
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    crop_path: Mapped[str | None] = mapped_column(Text)  # relative to the case folder
    frame_s: Mapped[float | None] = mapped_column(Float)  # in a video: the frame's time


class Thumbnail(Base):
    """The review thumbnail of a content; ``blurred`` unless its explicit label is ``none``."""

    __tablename__ = "thumbnails"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    path: Mapped[str] = mapped_column(Text)  # relative to the case folder
    blurred: Mapped[bool] = mapped_column(Boolean)
    label: Mapped[str] = mapped_column(String(32))  # explicit label it was rendered for


class AuditEvent(Base):
    """Append-only, hash-chained record of every action on the case (see audit.py)."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(HEX256)
    hash: Mapped[str] = mapped_column(HEX256, unique=True)


# -- persons (issue 4): consented enrollment, matches and clusters ------------------------------
class Person(Base):
    """An enrolled person (``E<n>``, with a consent record) or an unidentified one (``U<n>``, a
    cluster of faces inside the case). Codes are never reused, even after removal or merge."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # enrolled | unidentified
    name: Mapped[str | None] = mapped_column(Text)  # enrolled only
    status: Mapped[str] = mapped_column(String(16))  # active | merged
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    consent_json: Mapped[str | None] = mapped_column(Text)  # canonical JSON, enrolled only
    consent_sha256: Mapped[str | None] = mapped_column(HEX256)  # of the consent file as given
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(Text)


class PersonTemplate(Base):
    """One identity template of an enrolled person: the Fernet-encrypted embedding of the face in
    one reference photo, with that photo's hashes. The photo itself is never stored."""

    __tablename__ = "person_templates"
    __table_args__ = (UniqueConstraint("person_id", "ref_sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    ref_index: Mapped[int] = mapped_column(Integer)
    ref_sha256: Mapped[str] = mapped_column(HEX256)
    ref_md5: Mapped[str] = mapped_column(String(32))
    ref_pdq: Mapped[str | None] = mapped_column(HEX256)
    ref_pdq_quality: Mapped[int | None] = mapped_column(Integer)
    face_index: Mapped[int] = mapped_column(Integer)  # which face of the photo, reading order
    quality: Mapped[str] = mapped_column(Text)  # JSON: size_px, detector_score, sharpness, ...
    template: Mapped[bytes] = mapped_column(LargeBinary)  # Fernet token of 128 float32


class FaceMatch(Base):
    """The best enrolled person for a face, when at least a ``possible`` match."""

    __tablename__ = "face_matches"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    face_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # match | possible
    similarity: Mapped[float] = mapped_column(Float)


class FaceCluster(Base):
    """Which unidentified person (cluster) a usable face belongs to; kept across re-runs."""

    __tablename__ = "face_clusters"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    face_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    assigned_by: Mapped[str] = mapped_column(String(16))  # auto | merge | split


# -- derivation (issue 5): which picture was made from which -----------------------------------
class DerivationFeatures(Base):
    """Per-content local features for the derivation pass (computed once, reused by re-runs).
    Arrays are raw little-endian blobs: points float32 (n, 2), descriptors uint8 (n, 32)."""

    __tablename__ = "derivation_features"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    version: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # ok | error
    error: Mapped[str | None] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)  # oriented picture, file pixels
    height: Mapped[int] = mapped_column(Integer)
    work_scale: Mapped[float] = mapped_column(Float)
    points: Mapped[bytes] = mapped_column(LargeBinary)
    descriptors: Mapped[bytes] = mapped_column(LargeBinary)
    mirror_points: Mapped[bytes] = mapped_column(LargeBinary)
    mirror_descriptors: Mapped[bytes] = mapped_column(LargeBinary)
    profile: Mapped[bytes | None] = mapped_column(LargeBinary)  # float32 radial power shares


class DerivationPair(Base):
    """A shortlisted pair, verified once (``sha_a`` < ``sha_b``); the masks are PNGs of the
    change mask in each picture's work frame (no picture content)."""

    __tablename__ = "derivation_pairs"
    sha_a: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    sha_b: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    version: Mapped[str] = mapped_column(String(16))
    related: Mapped[bool] = mapped_column(Boolean)
    payload: Mapped[str] = mapped_column(Text)  # JSON: alignment, coverage, fractions, boxes
    mask_a: Mapped[bytes | None] = mapped_column(LargeBinary)
    mask_b: Mapped[bytes | None] = mapped_column(LargeBinary)


class DerivationLink(Base):
    """The source a content was derived from (at most one per derived content)."""

    __tablename__ = "derivation_links"
    derived_sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    source_sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    version: Mapped[str] = mapped_column(String(16))
    transform: Mapped[str] = mapped_column(Text)  # JSON (align.Transform)
    changed_fraction: Mapped[float] = mapped_column(Float)
    boxes: Mapped[str] = mapped_column(Text)  # JSON [[x, y, w, h]] in derived file pixels
    face_swap: Mapped[bool | None] = mapped_column(Boolean)
    face: Mapped[str] = mapped_column(Text)  # JSON: similarity, reason
    confidence: Mapped[float] = mapped_column(Float)  # that the direction is right
    evidence: Mapped[str] = mapped_column(Text)  # JSON: direction cues, inliers
    render_dir: Mapped[str | None] = mapped_column(Text)  # relative to the case folder
    render_labels: Mapped[str | None] = mapped_column(Text)  # explicit labels rendered for


# -- web app (issue 14): accounts, sessions, review decisions, the case workflow ----------------
class User(Base):
    """An account of the case's web app. The password is an argon2id hash; ``scope`` is a JSON
    list of person codes (advocates only: the persons whose findings they may see)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # examiner | case_manager | advocate | reviewer
    password_hash: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)  # JSON list of person codes
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(Text)


class WebSession(Base):
    """A server-side login session. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(HEX256, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[str] = mapped_column(String(40))
    last_seen: Mapped[str] = mapped_column(String(40))


class LoginAttempt(Base):
    """Every login try, kept for the rate limit (the audit log has them too)."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    remote: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)


class RevealGrant(Base):
    """An examiner's logged, time-limited permission to see one image unblurred."""

    __tablename__ = "reveal_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[str] = mapped_column(String(40))


class ImageTag(Base):
    """A reviewer's tag on a content (e.g. ``relevant``, ``not_relevant``, ``reviewed``)."""

    __tablename__ = "image_tags"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    tagged_by: Mapped[str] = mapped_column(Text)
    tagged_at: Mapped[str] = mapped_column(String(40))


class FaceDecision(Base):
    """An examiner's decision on a face's match to a person: ``confirmed`` or ``rejected``.
    Findings and reports use it over the automatic match."""

    __tablename__ = "face_decisions"
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), primary_key=True)
    face_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | rejected
    decided_by: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[str] = mapped_column(String(40))


class CaseRequest(Base):
    """A request from or for a person (review, interim measure, takedown, ...) and where it
    stands; each change is also a ``request_events`` row and an audit event."""

    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # R0001, ...
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    asked_by: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[str] = mapped_column(String(40))
    owner: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[str | None] = mapped_column(String(40))  # of the next step, by the policy
    detail: Mapped[str | None] = mapped_column(Text)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)


class RequestEvent(Base):
    """One step in a request's life: created, a status change, a new owner, a note."""

    __tablename__ = "request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id"), index=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)


class VideoHash(Base):
    """One vPDQ feature of a video content (see records.items.VideoFrameHash)."""

    __tablename__ = "video_hashes"
    __table_args__ = (UniqueConstraint("sha256", "frame_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("contents.sha256"), index=True)
    frame_number: Mapped[int] = mapped_column(Integer)
    timestamp_s: Mapped[float] = mapped_column(Float)
    pdq: Mapped[str] = mapped_column(HEX256, index=True)
    quality: Mapped[int] = mapped_column(Integer)


class DiskImage(Base):
    """A disk image named as a source: its format, volumes and the check of its stored hashes."""

    __tablename__ = "disk_images"
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    format: Mapped[str] = mapped_column(String(16))  # raw | ewf
    segments_json: Mapped[str] = mapped_column(Text)  # JSON list of segment file paths
    media_size: Mapped[int | None] = mapped_column(BigInteger)
    volumes_json: Mapped[str] = mapped_column(Text)  # JSON list of records.disk.VolumeInfo
    stored_md5: Mapped[str | None] = mapped_column(String(32))
    stored_sha1: Mapped[str | None] = mapped_column(String(40))
    computed_md5: Mapped[str | None] = mapped_column(String(32))
    computed_sha1: Mapped[str | None] = mapped_column(String(40))
    # verified | mismatch | no_stored_hash | not_verified | error
    verification: Mapped[str] = mapped_column(String(24))
    verified_at: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)


class CreationTrace(Base):
    """One browser history visit or download that matches a listed AI undress / nudify /
    face-swap service, or a download whose file is in the case (see records.traces)."""

    __tablename__ = "creation_traces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trace_key: Mapped[str] = mapped_column(HEX256, unique=True)  # stable: rerun adds no copy
    db_location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    browser: Mapped[str] = mapped_column(String(16))  # chrome|edge|brave|firefox|safari
    profile: Mapped[str] = mapped_column(Text)  # the profile folder as found
    kind: Mapped[str] = mapped_column(String(16))  # visit | download
    url: Mapped[str] = mapped_column(Text)
    host: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    service_id: Mapped[str | None] = mapped_column(String(64), index=True)  # in the services list
    service_name: Mapped[str | None] = mapped_column(Text)
    at_utc: Mapped[str | None] = mapped_column(String(40))  # ISO 8601, Z
    local_offset_min: Mapped[int | None] = mapped_column(Integer)  # when the profile says
    download_path: Mapped[str | None] = mapped_column(Text)  # as the browser recorded it
    download_bytes: Mapped[int | None] = mapped_column(BigInteger)
    matched_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    matched_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    match_reason: Mapped[str | None] = mapped_column(String(16))  # path | hash | name_size
    source_row: Mapped[str] = mapped_column(Text)  # e.g. "urls.id=12, visits.id=40"
