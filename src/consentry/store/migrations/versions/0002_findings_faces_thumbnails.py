"""Analyzer findings (explicit content, ...), faces with embeddings, review thumbnails.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("analyzer", sa.String(32), nullable=False),
        sa.Column("analyzer_version", sa.String(16), nullable=False),
        sa.Column("model_sha256", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("label", sa.String(32), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.UniqueConstraint("sha256", "analyzer"),
    )
    op.create_index("ix_findings_sha256", "findings", ["sha256"])
    op.create_index("ix_findings_analyzer", "findings", ["analyzer"])
    op.create_index("ix_findings_label", "findings", ["label"])
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("box_x", sa.Float(), nullable=False),
        sa.Column("box_y", sa.Float(), nullable=False),
        sa.Column("box_w", sa.Float(), nullable=False),
        sa.Column("box_h", sa.Float(), nullable=False),
        sa.Column("analysis_side", sa.Integer(), nullable=False),
        sa.Column("landmarks", sa.Text(), nullable=False),
        sa.Column("detector_score", sa.Float(), nullable=False),
        sa.Column("size_px", sa.Float(), nullable=False),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("frontalness", sa.Float(), nullable=False),
        sa.Column("usable", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.UniqueConstraint("sha256", "face_index"),
    )
    op.create_index("ix_faces_sha256", "faces", ["sha256"])
    op.create_table(
        "thumbnails",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("blurred", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("thumbnails")
    op.drop_table("faces")
    op.drop_table("findings")
