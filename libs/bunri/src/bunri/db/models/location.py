from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geography
from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, UUIDPrimaryKey, utcnow


class CollectionPoint(UUIDPrimaryKey, Base):
    """A place that takes a kind of waste (`bunri.locations.kinds`), as a public list publishes it.

    Exists only where PostgreSQL has PostGIS (`bunri.locations.schema`): the location domain is
    off elsewhere.
    """

    __tablename__ = "collection_points"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_collection_points_location", "location", postgresql_using="gist"),
        Index("ix_collection_points_kind", "kind"),
    )

    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    opening_notes: Mapped[str | None] = mapped_column(String(500))
    location: Mapped[object] = mapped_column(
        Geography("POINT", srid=4326, spatial_index=False, nullable=False)
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
