"""the outbox names its exchange

`bunri.tasks` for the task messages it always held; `bunri.events` for domain events, which are
always written there, in the transaction of the change they tell of.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:46:57.902897
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbox_messages",
        sa.Column("exchange", sa.String(length=64), server_default="bunri.tasks", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("outbox_messages", "exchange")
