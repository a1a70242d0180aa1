"""location-api's operations: the nearby search, and the kinds a taxonomy class leads to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.errors import DependencyUnavailable
from bunri.guides.loader import load_taxonomy
from bunri.guides.model import UnknownClass
from bunri.locations.kinds import Kind, all_kinds, kind, kinds_for_middle
from bunri.locations.nearby import NearbyAnswer, NearbySearch
from bunri.locations.schema import location_domain_available

# How often a service without PostGIS looks again (it may have been installed and migrated since).
AVAILABILITY_RECHECK_SECONDS = 30.0


class LocationsUnavailable(DependencyUnavailable):
    message = (
        "Collection points need PostgreSQL with PostGIS, which this deployment does not have; "
        "the rest of the app works."
    )


@dataclass(frozen=True)
class ClassAnswer:
    middle: str
    kinds: list[Kind]
    answer: NearbyAnswer


class LocationService:
    def __init__(self, engine: AsyncEngine, search: NearbySearch) -> None:
        self._engine = engine
        self._search = search
        self._available = False
        self._checked_at = float("-inf")
        self._checking = asyncio.Lock()

    async def nearby(
        self, lat: float, lon: float, kind_code: str | None, radius_m: int, limit: int
    ) -> tuple[list[Kind], NearbyAnswer]:
        kinds = [kind(kind_code)] if kind_code is not None else list(all_kinds().values())
        return kinds, await self._nearby(lat, lon, kinds, radius_m, limit)

    async def for_class(
        self, middle: str, lat: float, lon: float, radius_m: int, limit: int
    ) -> ClassAnswer:
        if not any(
            middle == each.name for major in load_taxonomy().majors for each in major.middles
        ):
            raise UnknownClass(f"The taxonomy has no middle class {middle!r}.")
        kinds = kinds_for_middle(middle)
        if not kinds:  # collected at the door: no place to take it to
            return ClassAnswer(middle, [], NearbyAnswer([], partial=False, cache="hit"))
        return ClassAnswer(middle, kinds, await self._nearby(lat, lon, kinds, radius_m, limit))

    async def _nearby(
        self, lat: float, lon: float, kinds: Sequence[Kind], radius_m: int, limit: int
    ) -> NearbyAnswer:
        await self._require_postgis()
        return await self._search.search(lat, lon, kinds, radius_m, limit)

    async def _require_postgis(self) -> None:
        if self._available:
            return
        # Searches arriving while the check runs wait for its answer rather than being refused.
        async with self._checking:
            now = time.monotonic()
            if not self._available and now - self._checked_at >= AVAILABILITY_RECHECK_SECONDS:
                async with self._engine.connect() as connection:
                    self._available = await location_domain_available(connection)
                self._checked_at = time.monotonic()
        if not self._available:
            raise LocationsUnavailable()
