"""Initial case store: sources, locations, contents, problems, scans, audit events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_info",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("examiner", sa.Text(), nullable=True),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("tool_version", sa.String(32), nullable=False),
        sa.Column("sources_json", sa.Text(), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=True),
    )
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path_key", sa.String(64), nullable=False, unique=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("raw_path", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
    )
    op.create_table(
        "contents",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("md5", sa.String(32), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(80), nullable=False),
        sa.Column("is_image", sa.Boolean(), nullable=False),
        sa.Column("image_format", sa.String(16), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("color_mode", sa.String(16), nullable=True),
        sa.Column("frames", sa.Integer(), nullable=True),
        sa.Column("orientation", sa.Integer(), nullable=True),
        sa.Column("exif_json", sa.Text(), nullable=True),
        sa.Column("pdq", sa.String(64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("pdq_dihedral", sa.Text(), nullable=True),
    )
    op.create_index("ix_contents_md5", "contents", ["md5"])
    op.create_index("ix_contents_pdq", "contents", ["pdq"])
    op.create_table(
        "locations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path_key", sa.String(64), nullable=False, unique=True),
        sa.Column("source_id", sa.Integer(), sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("locations.id"), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rel_path", sa.Text(), nullable=False),
        sa.Column("raw_path", sa.LargeBinary(), nullable=False),
        sa.Column("member_chain", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_locations_source_id", "locations", ["source_id"])
    op.create_index("ix_locations_parent_id", "locations", ["parent_id"])
    op.create_index("ix_locations_sha256", "locations", ["sha256"])
    op.create_index("ix_locations_state", "locations", ["state"])
    op.create_table(
        "location_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("location_id", sa.Integer(), sa.ForeignKey("locations.id"), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.UniqueConstraint("location_id", "code"),
    )
    op.create_index("ix_location_problems_location_id", "location_problems", ["location_id"])
    op.create_table(
        "content_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.UniqueConstraint("sha256", "code"),
    )
    op.create_index("ix_content_problems_sha256", "content_problems", ["sha256"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("actor", sa.Text(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in (
        "audit_events",
        "content_problems",
        "location_problems",
        "locations",
        "contents",
        "sources",
        "scans",
        "case_info",
    ):
        op.drop_table(table)
