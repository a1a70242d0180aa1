"""chat batch jobs have a kind

`question` (every job so far) or `weekly_report`: a report for the model to write, which the AI
worker does not answer from the guides alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 17:33:05.042987
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "chat_batch_jobs",
        sa.Column(
            "kind",
            sa.Enum("question", "weekly_report", name="batchkind", native_enum=False, length=16),
            server_default="question",
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("chat_batch_jobs", "kind")
