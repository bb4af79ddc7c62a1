"""Web app: users, sessions, login attempts, reveal grants, tags, face decisions, requests.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(40), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.Text(), nullable=True),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("last_seen"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("remote", sa.String(64), nullable=False),
        _ts("at"),
        sa.Column("ok", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_login_attempts_name", "login_attempts", ["name"])
    op.create_table(
        "reveal_grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("granted_at"),
        _ts("expires_at"),
    )
    op.create_index("ix_reveal_grants_user_id", "reveal_grants", ["user_id"])
    op.create_index("ix_reveal_grants_sha256", "reveal_grants", ["sha256"])
    op.create_table(
        "image_tags",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=True),
        sa.Column("tag", sa.String(32), primary_key=True),
        sa.Column("tagged_by", sa.Text(), nullable=False),
        _ts("tagged_at"),
    )
    op.create_table(
        "face_decisions",
        sa.Column("sha256", sa.String(64), sa.ForeignKey("contents.sha256"), primary_key=True),
        sa.Column("face_index", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        _ts("decided_at"),
    )
    op.create_index("ix_face_decisions_person_id", "face_decisions", ["person_id"])
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("persons.id"), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("asked_by", sa.Text(), nullable=False),
        _ts("asked_at"),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("status_at"),
        _ts("due_at", nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
    )
    op.create_index("ix_requests_person_id", "requests", ["person_id"])
    op.create_table(
        "request_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("requests.id"), nullable=False),
        _ts("at"),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        _ts("due_at", nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_request_events_request_id", "request_events", ["request_id"])


def downgrade() -> None:
    for table in (
        "request_events",
        "requests",
        "face_decisions",
        "image_tags",
        "reveal_grants",
        "login_attempts",
        "web_sessions",
        "users",
    ):
        op.drop_table(table)
