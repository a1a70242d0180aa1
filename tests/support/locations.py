"""Driving the location domain in tests: location-api in this process, and collection points
written straight into PostGIS."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.locations.points import EARTH_RADIUS_M, PointRecord
from location_api.app import create_app
from location_api.settings import LocationApiSettings

LOCATIONS = "/api/v1/locations"
CITY_HALL = (37.5663, 126.9779)  # Seoul City Hall

_INSERT = text(
    """
    INSERT INTO collection_points
        (id, source, source_id, kind, name, address, opening_notes, location, updated_at)
    VALUES (:id, :source, :source_id, :kind, :name, :address, :opening_notes,
            ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, now())
    """
)


def location_settings(env: dict[str, str], **overrides: Any) -> LocationApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in env.items()
    }
    return LocationApiSettings(**(values | {"log_json": False} | overrides))


@asynccontextmanager
async def location_api_client(settings: LocationApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """location-api in this process (its lifespan run), and a client of it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def point(
    kind: str, lat: float, lon: float, name: str | None = None, source: str = "test"
) -> PointRecord:
    source_id = uuid.uuid4().hex
    return PointRecord(
        source=source,
        source_id=source_id,
        kind=kind,
        name=name or f"{kind} {source_id[:6]}",
        address="서울특별시 중구 세종대로 110",
        lat=lat,
        lon=lon,
    )


async def add_points(engine: AsyncEngine, points: Sequence[PointRecord]) -> None:
    async with engine.begin() as connection:
        for each in points:
            await connection.execute(
                _INSERT,
                {
                    "id": uuid.uuid4(),
                    "source": each.source,
                    "source_id": each.source_id,
                    "kind": each.kind,
                    "name": each.name,
                    "address": each.address,
                    "opening_notes": each.opening_notes,
                    "lat": each.lat,
                    "lon": each.lon,
                },
            )


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A position `north_m` and `east_m` metres away (small distances, on the sphere)."""
    dlat = math.degrees(north_m / EARTH_RADIUS_M)
    dlon = math.degrees(east_m / (EARTH_RADIUS_M * math.cos(math.radians(lat))))
    return lat + dlat, lon + dlon
