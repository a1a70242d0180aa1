"""Whether this database can hold collection points: PostgreSQL with PostGIS.

The migration that creates `collection_points` skips it where PostGIS is missing (SQLite, a
server without the extension), so that the rest of the platform still starts; the location
domain then answers 503 `dependency_unavailable`.
"""

from __future__ import annotations

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

TABLE = "collection_points"
# Tables the PostGIS extension owns: never ours to create, compare or drop.
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})

NO_POSTGIS = (
    "PostGIS is not available in this database, so the location domain is off (it answers 503 "
    "dependency_unavailable). Install PostGIS (Debian: postgresql-15-postgis-3), then run "
    "'bunri db downgrade 0012' and 'bunri db upgrade'."
)


def postgis_installable(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    available = text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    return connection.scalar(available) is not None


def has_collection_points(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    return connection.scalar(text("SELECT to_regclass(:table)"), {"table": TABLE}) is not None


async def location_domain_available(connection: AsyncConnection) -> bool:
    return await connection.run_sync(has_collection_points)
