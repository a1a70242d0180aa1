"""scans in flight, per person

A partial index of the scans not yet completed or failed, which scan-api counts on every upload
(a person's cap on scans in flight).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "status NOT IN ('completed', 'failed')"


def upgrade() -> None:
    op.create_index(
        "ix_scans_user_id_in_flight",
        "scans",
        ["user_id"],
        postgresql_where=sa.text(IN_FLIGHT),
        sqlite_where=sa.text(IN_FLIGHT),
    )


def downgrade() -> None:
    op.drop_index("ix_scans_user_id_in_flight", table_name="scans")
