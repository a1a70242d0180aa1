"""The nearby search: our points from PostgreSQL, the live provider where ours are few, cached.

An entry is built for its cell's centre with the reach of its radius bucket (`cells`); a search
then measures each point from the person's own position, keeps those within the radius asked
for, and answers the nearest first.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.locations.cache import PARTIAL_RETRY_SECONDS, CacheResult, Entry, NearbyCache
from bunri.locations.cells import Cell, bucket_for, cell_of, reach_m
from bunri.locations.kakao import ProviderUnavailable
from bunri.locations.kinds import Kind, kind
from bunri.locations.points import NearbyPoint, haversine_m
from bunri.locations.store import points_near

# Fewer of our own points than this within the radius, and the live provider is asked too.
MIN_OWN_POINTS = 3
# The most points an entry keeps, nearest to its cell's centre first.
ENTRY_CAP = 100
# Our own points change only by an import, which invalidates: they can be kept long.
OWN_FRESH_SECONDS = 6 * 3600
PROVIDER_FRESH_SECONDS = 3600
# A provider's place this close to one of ours of the same kind is taken for the same place.
SAME_PLACE_M = 30.0
PROVIDER_PAGE = 15


class Provider(Protocol):
    async def search(
        self, kind: Kind, lat: float, lon: float, radius_m: int, limit: int = 15
    ) -> list[NearbyPoint]: ...


@dataclass(frozen=True)
class NearbyAnswer:
    points: list[NearbyPoint]
    partial: bool  # the live provider was needed and failed: our own points only
    cache: CacheResult  # the least fresh of its entries: miss, else stale, else hit

    @property
    def stale(self) -> bool:
        return self.cache == "stale"


class NearbySearch:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis | None,
        provider: Provider | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._provider = provider
        self._clock = clock
        self.cache = NearbyCache(redis, self._build, clock=clock)

    async def search(
        self, lat: float, lon: float, kinds: Sequence[Kind], radius_m: int, limit: int
    ) -> NearbyAnswer:
        lookups = await self.cache.lookup(
            [each.code for each in kinds], bucket_for(radius_m), cell_of(lat, lon)
        )
        measured = [
            dataclasses.replace(point, distance_m=haversine_m(lat, lon, point.lat, point.lon))
            for lookup in lookups
            for point in lookup.entry.points
        ]
        within = sorted(
            (point for point in measured if point.distance_m <= radius_m),
            key=lambda point: (point.distance_m, point.id),
        )
        return NearbyAnswer(
            points=within[:limit],
            partial=any(lookup.entry.partial for lookup in lookups),
            cache=_least_fresh([lookup.result for lookup in lookups]),
        )

    async def close(self) -> None:
        await self.cache.close()

    async def _build(self, kind_code: str, bucket: int, cell: Cell) -> Entry:
        built_at = self._clock()
        lat, lon = cell.centre
        reach = reach_m(bucket)
        async with self._engine.connect() as connection:
            own = await points_near(connection, kind_code, lat, lon, reach, ENTRY_CAP)
        fresh_for: float = OWN_FRESH_SECONDS
        partial = False
        found: list[NearbyPoint] = []
        if self._provider is not None and _count_within(own, bucket) < MIN_OWN_POINTS:
            fresh_for = PROVIDER_FRESH_SECONDS
            try:
                found = await self._provider.search(kind(kind_code), lat, lon, reach, PROVIDER_PAGE)
            except ProviderUnavailable:
                partial = True
                fresh_for = PARTIAL_RETRY_SECONDS
        merged = own + [point for point in found if not _near_one_of(point, own)]
        merged.sort(key=lambda point: point.distance_m)
        return Entry(built_at, built_at + fresh_for, partial, tuple(merged[:ENTRY_CAP]))


def _count_within(points: Sequence[NearbyPoint], radius_m: float) -> int:
    return sum(1 for point in points if point.distance_m <= radius_m)


def _near_one_of(point: NearbyPoint, ours: Sequence[NearbyPoint]) -> bool:
    return any(
        haversine_m(point.lat, point.lon, mine.lat, mine.lon) <= SAME_PLACE_M for mine in ours
    )


def _least_fresh(results: Sequence[CacheResult]) -> CacheResult:
    for result in ("miss", "stale"):
        if result in results:
            return result
    return "hit"
