"""Disk images, deleted files, videos and traces of creation.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("locations") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("recovery", sa.String(16), nullable=True))
        batch.add_column(sa.Column("atime_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("ctime_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("crtime_ns", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("contents") as batch:
        batch.add_column(sa.Column("is_video", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("video_codec", sa.String(32), nullable=True))
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("frame_s", sa.Float(), nullable=True))
    op.create_table(
        "video_hashes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("frame_number", sa.Integer(), nullable=False),
        sa.Column("timestamp_s", sa.Float(), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.UniqueConstraint("sha256", "frame_number"),
    )
    op.create_index("ix_video_hashes_sha256", "video_hashes", ["sha256"])
    op.create_index("ix_video_hashes_pdq", "video_hashes", ["pdq"])
    op.create_table(
        "disk_images",
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), primary_key=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("segments_json", sa.Text(), nullable=False),
        sa.Column("media_size", sa.BigInteger(), nullable=True),
        sa.Column("volumes_json", sa.Text(), nullable=False),
        sa.Column("stored_md5", sa.String(32), nullable=True),
        sa.Column("stored_sha1", sa.String(40), nullable=True),
        sa.Column("computed_md5", sa.String(32), nullable=True),
        sa.Column("computed_sha1", sa.String(40), nullable=True),
        sa.Column("verification", sa.String(24), nullable=False),
        sa.Column("verified_at", sa.String(40), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_table(
        "creation_traces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("trace_key", sa.String(64), nullable=False, unique=True),
        sa.Column("db_location_id", sa.Integer(), sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("browser", sa.String(16), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("service_id", sa.String(64), nullable=True),
        sa.Column("service_name", sa.Text(), nullable=True),
        sa.Column("at_utc", sa.String(40), nullable=True),
        sa.Column("local_offset_min", sa.Integer(), nullable=True),
        sa.Column("download_path", sa.Text(), nullable=True),
        sa.Column("download_bytes", sa.BigInteger(), nullable=True),
        sa.Column(
            "matched_location_id", sa.Integer(), sa.ForeignKey("locations.id"), nullable=True
        ),
        sa.Column("matched_sha256", sa.String(64), nullable=True),
        sa.Column("match_reason", sa.String(16), nullable=True),
        sa.Column("source_row", sa.Text(), nullable=False),
    )
    op.create_index("ix_creation_traces_db_location_id", "creation_traces", ["db_location_id"])
    op.create_index("ix_creation_traces_service_id", "creation_traces", ["service_id"])
    op.create_index("ix_creation_traces_matched_sha256", "creation_traces", ["matched_sha256"])


def downgrade() -> None:
    op.drop_table("creation_traces")
    op.drop_table("disk_images")
    op.drop_table("video_hashes")
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("frame_s")
    with op.batch_alter_table("contents") as batch:
        for name in ("video_codec", "duration_s", "is_video"):
            batch.drop_column(name)
    with op.batch_alter_table("locations") as batch:
        for name in ("crtime_ns", "ctime_ns", "atime_ns", "recovery", "deleted", "address"):
            batch.drop_column(name)
