"""characters, missions and reward campaigns

The character domain's tables; `users.roles` (the admin role, given by `bunri users`);
`scans.image_digest`, by which the same photo sent again earns no points.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _user_id(primary_key: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "user_id",
        sa.Uuid(),
        sa.ForeignKey("users.id", ondelete="CASCADE", name=None),
        primary_key=primary_key,
        nullable=False,
    )


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "roles",
            JSON,
            server_default="[]",
            nullable=False,
        ),
    )
    op.add_column("scans", sa.Column("image_digest", sa.LargeBinary(length=32), nullable=True))
    op.create_table(
        "characters",
        _user_id(primary_key=True),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "character_awards",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _user_id(),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", JSON, server_default="{}", nullable=False),
        sa.Column("image_digest", sa.LargeBinary(length=32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "key"),
    )
    op.create_index(
        "ix_character_awards_user_id_created_at", "character_awards", ["user_id", "created_at"]
    )
    op.create_index(
        "ix_character_awards_user_id_image_digest",
        "character_awards",
        ["user_id", "image_digest"],
        postgresql_where=sa.text("image_digest IS NOT NULL"),
        sqlite_where=sa.text("image_digest IS NOT NULL"),
    )
    op.create_table(
        "character_weeks",
        _user_id(primary_key=True),
        sa.Column("week_start", sa.Date(), primary_key=True),
        sa.Column("points", sa.BigInteger(), server_default="0", nullable=False),
    )
    op.create_index("ix_character_weeks_week_start", "character_weeks", ["week_start"])
    op.create_table(
        "character_missions",
        _user_id(primary_key=True),
        sa.Column("mission_id", sa.String(length=64), primary_key=True),
        sa.Column("period_start", sa.Date(), primary_key=True),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("seen", JSON, server_default="[]", nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reward_campaigns",
        sa.Column("name", sa.String(length=64), primary_key=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("started_by", sa.String(length=320), nullable=False),
        sa.Column("users_total", sa.Integer(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_granted", sa.Integer(), server_default="0", nullable=False),
        sa.Column("users_skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reward_campaign_chunks",
        sa.Column(
            "campaign",
            sa.String(length=64),
            sa.ForeignKey("reward_campaigns.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("user_ids", JSON, nullable=False),
        sa.Column("granted", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    for table in (
        "reward_campaign_chunks",
        "reward_campaigns",
        "character_missions",
        "character_weeks",
        "character_awards",
        "characters",
    ):
        op.drop_table(table)
    with op.batch_alter_table("scans") as scans:
        scans.drop_column("image_digest")
    with op.batch_alter_table("users") as users:
        users.drop_column("roles")
