"""collection points (PostGIS)

Where to take what a guide sends to a collection box. Created only where PostgreSQL has PostGIS:
elsewhere the migration says so and goes on, and the location domain answers 503.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:40:00
"""

import sys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography

from bunri.locations.schema import NO_POSTGIS, TABLE, postgis_installable

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if not postgis_installable(op.get_bind()):
        sys.stderr.write(NO_POSTGIS + "\n")
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("opening_notes", sa.String(length=500), nullable=True),
        sa.Column(
            "location",
            Geography("POINT", srid=4326, spatial_index=False, nullable=False),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_points")),
        sa.UniqueConstraint(
            "source", "source_id", name=op.f("uq_collection_points_source_source_id")
        ),
    )
    op.create_index("ix_collection_points_location", TABLE, ["location"], postgresql_using="gist")
    op.create_index("ix_collection_points_kind", TABLE, ["kind"])


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
