"""profiles, weekly reports and account deletion

A profile per person (created on first read), versioned for optimistic locking; the weekly
report of a person's sorting; `users.deleted_at`, set when a person asks to leave and erased
with the row.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 16:12:06.544236
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import bunri.db.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=True),
        sa.Column("district_code", sa.String(length=5), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("notify_weekly_report", sa.Boolean(), nullable=False),
        sa.Column("notify_character", sa.Boolean(), nullable=False),
        sa.Column("notify_marketing", sa.Boolean(), nullable=False),
        sa.Column(
            "photo_status",
            sa.Enum(
                "none",
                "processing",
                "ready",
                "failed",
                name="photostatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("photo_upload", sa.Integer(), nullable=False),
        sa.Column("photo_key", sa.String(length=255), nullable=True),
        sa.Column("photo_thumbnail_key", sa.String(length=255), nullable=True),
        sa.Column("photo_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", bunri.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bunri.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_profiles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profiles")),
    )
    op.create_table(
        "weekly_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column(
            "figures",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("chat_job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", bunri.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", bunri.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_job_id"],
            ["chat_batch_jobs.id"],
            name=op.f("fk_weekly_reports_chat_job_id_chat_batch_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_weekly_reports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weekly_reports")),
        sa.UniqueConstraint(
            "user_id", "week_start", name=op.f("uq_weekly_reports_user_id_week_start")
        ),
    )
    op.add_column(
        "users", sa.Column("deleted_at", bunri.db.base.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("users", "deleted_at")
    op.drop_table("weekly_reports")
    op.drop_table("profiles")
