"""Collection points out of PostgreSQL: the nearest of a kind around a place (PostGIS)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bunri.locations.points import NearbyPoint, haversine_m

# KNN order over the GiST index (`<->`), bounded by ST_DWithin so that far points are never read.
_NEAREST = text(
    """
    SELECT id, source, kind, name, address, opening_notes,
           ST_Y(location::geometry) AS lat, ST_X(location::geometry) AS lon
    FROM collection_points
    WHERE kind = :kind
      AND ST_DWithin(location, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :reach)
    ORDER BY location <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography
    LIMIT :limit
    """
)


async def points_near(
    connection: AsyncConnection, kind: str, lat: float, lon: float, reach_m: float, limit: int
) -> list[NearbyPoint]:
    """Our points of `kind` within `reach_m` of (lat, lon), nearest first."""
    rows = await connection.execute(
        _NEAREST, {"kind": kind, "lat": lat, "lon": lon, "reach": reach_m, "limit": limit}
    )
    return [
        NearbyPoint(
            id=str(row.id),
            source=row.source,
            kind=row.kind,
            name=row.name,
            address=row.address,
            lat=row.lat,
            lon=row.lon,
            opening_notes=row.opening_notes,
            distance_m=haversine_m(lat, lon, row.lat, row.lon),
        )
        for row in rows
    ]
