"""scans keep a request digest only when they were sent with an Idempotency-Key

The digest is compared only when the same key comes again; hashing every keyless upload cost the
accept path a quarter of a millisecond for nothing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scans") as batch:
        batch.alter_column("request_digest", existing_type=sa.LargeBinary(length=32), nullable=True)


def downgrade() -> None:
    # Keyless scans made since the upgrade have no digest: an all-zero one stands in, which no
    # upload hashes to, and no key will ever be compared with it.
    op.execute(
        sa.text("UPDATE scans SET request_digest = :zero WHERE request_digest IS NULL").bindparams(
            zero=b"\0" * 32
        )
    )
    with op.batch_alter_table("scans") as batch:
        batch.alter_column(
            "request_digest", existing_type=sa.LargeBinary(length=32), nullable=False
        )
