"""Derivation linking: cached features, verified pairs, links.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _sha(name: str, primary: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=primary)


def upgrade() -> None:
    op.create_table(
        "derivation_features",
        _sha("sha256"),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("work_scale", sa.Float(), nullable=False),
        sa.Column("points", sa.LargeBinary(), nullable=False),
        sa.Column("descriptors", sa.LargeBinary(), nullable=False),
        sa.Column("mirror_points", sa.LargeBinary(), nullable=False),
        sa.Column("mirror_descriptors", sa.LargeBinary(), nullable=False),
        sa.Column("profile", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "derivation_pairs",
        _sha("sha_a"),
        _sha("sha_b"),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("related", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("mask_a", sa.LargeBinary(), nullable=True),
        sa.Column("mask_b", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "derivation_links",
        _sha("derived_sha256"),
        sa.Column("source_sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("version", sa.String(16), nullable=False),
        sa.Column("transform", sa.Text(), nullable=False),
        sa.Column("changed_fraction", sa.Float(), nullable=False),
        sa.Column("boxes", sa.Text(), nullable=False),
        sa.Column("face_swap", sa.Boolean(), nullable=True),
        sa.Column("face", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("render_dir", sa.Text(), nullable=True),
        sa.Column("render_labels", sa.Text(), nullable=True),
    )
    op.create_index("ix_derivation_links_source_sha256", "derivation_links", ["source_sha256"])


def downgrade() -> None:
    op.drop_table("derivation_links")
    op.drop_table("derivation_pairs")
    op.drop_table("derivation_features")
