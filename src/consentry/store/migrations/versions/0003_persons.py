"""Persons: enrolled (with consent and encrypted templates) and unidentified (face clusters),
face matches and cluster assignments.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("merged_into", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("consent_json", sa.Text(), nullable=True),
        sa.Column("consent_sha256", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
    )
    op.create_table(
        "person_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("ref_index", sa.Integer(), nullable=False),
        sa.Column("ref_sha256", sa.String(64), nullable=False),
        sa.Column("ref_md5", sa.String(32), nullable=False),
        sa.Column("ref_pdq", sa.String(64), nullable=True),
        sa.Column("ref_pdq_quality", sa.Integer(), nullable=True),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Text(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("person_id", "ref_sha256"),
    )
    op.create_index("ix_person_templates_person_id", "person_templates", ["person_id"])
    op.create_table(
        "face_matches",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=True),
        sa.Column("face_index", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
    )
    op.create_index("ix_face_matches_person_id", "face_matches", ["person_id"])
    op.create_table(
        "face_clusters",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=True),
        sa.Column("face_index", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("assigned_by", sa.String(16), nullable=False),
    )
    op.create_index("ix_face_clusters_person_id", "face_clusters", ["person_id"])


def downgrade() -> None:
    op.drop_table("face_clusters")
    op.drop_table("face_matches")
    op.drop_table("person_templates")
    op.drop_table("persons")
