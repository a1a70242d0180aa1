"""The nearby cache on real Redis and PostGIS: neighbours share an entry, a burst of misses makes
one build (in one process and across two), an import invalidates what it changed, and a provider
that fails is stood in for by the last complete answer."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.locations.cache import PARTIAL_RETRY_SECONDS, entry_key, invalidate_points
from bunri.locations.cells import cell_of
from bunri.locations.kakao import ProviderUnavailable
from bunri.locations.kinds import Kind, kind
from bunri.locations.nearby import PROVIDER_FRESH_SECONDS, NearbySearch
from bunri.locations.points import NearbyPoint, haversine_m
from tests.support.locations import CITY_HALL, LOCATIONS, add_points, offset, point

LAT, LON = CITY_HALL
BATTERY = kind("battery")


class CountingProvider:
    """The live provider's part, played here: how often it is asked, how slow, whether it fails.
    (The real Kakao client against its HTTP fake is tested in test_kakao.py.)"""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self.failing = False
        self.release: asyncio.Event | None = None
        self.asked = asyncio.Event()

    async def search(
        self, kind: Kind, lat: float, lon: float, radius_m: int, limit: int = 15
    ) -> list[NearbyPoint]:
        self.calls += 1
        self.asked.set()
        if self.release is not None:
            await self.release.wait()
        await asyncio.sleep(self.delay)
        if self.failing:
            raise ProviderUnavailable("timeout")
        place = offset(lat, lon, 100, 0)
        return [
            NearbyPoint(
                id="kakao:1",
                source="kakao",
                kind=kind.code,
                name="카카오 수거함",
                address="서울",
                lat=place[0],
                lon=place[1],
                opening_notes=None,
                distance_m=haversine_m(lat, lon, *place),
            )
        ]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cache_redis(redis: Redis, clean_database: AsyncEngine) -> Redis:
    """The test's Redis, emptied, beside the test's database, emptied after."""
    return redis


def lookups(result: str) -> float:
    value = REGISTRY.get_sample_value("bunri_location_cache_lookups_total", {"result": result})
    return value or 0.0


async def test_neighbours_in_a_cell_share_one_entry(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    await add_points(clean_database, [point("battery", *offset(LAT, LON, 200, 0), "box")])
    provider = CountingProvider()
    search = NearbySearch(clean_database, cache_redis, provider)
    hits = lookups("hit")

    first = await search.search(LAT, LON, [BATTERY], 1_000, 10)
    neighbour = offset(LAT, LON, 30, 40)
    assert cell_of(*neighbour) == cell_of(LAT, LON)
    second = await search.search(*neighbour, [BATTERY], 1_000, 10)

    assert (first.cache, second.cache) == ("miss", "hit")
    assert lookups("hit") == hits + 1
    assert provider.calls == 1  # our one point is fewer than three: Kakao was asked, once
    assert [p.name for p in first.points] == ["box", "카카오 수거함"]
    # Measured from each person's own position, not the cell's centre.
    box = next(p for p in second.points if p.name == "box")
    assert box.distance_m == pytest.approx(haversine_m(*neighbour, *offset(LAT, LON, 200, 0)))
    assert await cache_redis.exists(entry_key("battery", 1_000, cell_of(LAT, LON)))


async def test_a_burst_of_misses_makes_one_upstream_call(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    provider = CountingProvider(delay=0.2)
    # Two processes' worth: each its own in-process single-flight, sharing Redis.
    searches = [NearbySearch(clean_database, cache_redis, provider) for _ in range(2)]

    answers = await asyncio.gather(
        *(searches[n % 2].search(LAT, LON, [BATTERY], 1_000, 10) for n in range(60))
    )

    assert provider.calls == 1
    assert all([p.name for p in answer.points] == ["카카오 수거함"] for answer in answers)


async def test_a_builder_that_fails_hands_over_at_once(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    """Another process waiting on a build that fails takes the lock when it is released, not
    when it expires 10 s later."""

    class Broken(CountingProvider):
        async def search(
            self, kind: Kind, lat: float, lon: float, radius_m: int, limit: int = 15
        ) -> list[NearbyPoint]:
            await asyncio.sleep(0.2)
            raise RuntimeError("the build broke")

    first = asyncio.create_task(
        NearbySearch(clean_database, cache_redis, Broken()).search(LAT, LON, [BATTERY], 1_000, 10)
    )
    await asyncio.sleep(0.05)  # the first holds the lock
    started = time.monotonic()
    provider = CountingProvider()
    second = await NearbySearch(clean_database, cache_redis, provider).search(
        LAT, LON, [BATTERY], 1_000, 10
    )

    assert time.monotonic() - started < 2
    assert [p.name for p in second.points] == ["카카오 수거함"]
    with pytest.raises(RuntimeError):
        await first


async def test_an_import_invalidates_the_cells_it_touched(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    search = NearbySearch(clean_database, cache_redis, None)
    far_away = (35.1796, 129.0756)  # Busan
    assert (await search.search(LAT, LON, [BATTERY], 500, 10)).points == []
    assert (await search.search(*far_away, [BATTERY], 500, 10)).points == []

    added = offset(LAT, LON, 100, 0)
    await add_points(clean_database, [point("battery", *added, "new box")])
    still_cached = await search.search(LAT, LON, [BATTERY], 500, 10)
    assert still_cached.points == []  # without invalidation the entry stands
    removed = await invalidate_points(cache_redis, [("battery", *added)], settle_seconds=0)

    assert removed >= 1
    assert [p.name for p in (await search.search(LAT, LON, [BATTERY], 500, 10)).points] == [
        "new box"
    ]
    assert await cache_redis.exists(entry_key("battery", 500, cell_of(*far_away)))


async def test_a_build_that_read_before_the_import_cannot_outlive_it(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    provider = CountingProvider()
    provider.release = asyncio.Event()
    search = NearbySearch(clean_database, cache_redis, provider)
    old_build = asyncio.create_task(search.search(LAT, LON, [BATTERY], 1_000, 10))
    await provider.asked.wait()  # the build has read PostgreSQL and waits on the provider

    added = offset(LAT, LON, 100, 0)
    await add_points(clean_database, [point("battery", *added, "new box")])
    invalidation = asyncio.create_task(
        invalidate_points(cache_redis, [("battery", *added)], settle_seconds=0.5)
    )
    await asyncio.sleep(0.1)
    provider.release.set()  # the old build now stores what it read before the import
    await old_build
    await invalidation

    names = [p.name for p in (await search.search(LAT, LON, [BATTERY], 1_000, 10)).points]
    assert "new box" in names


async def test_a_failing_provider_is_stood_in_for_by_the_last_complete_answer(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    clock = Clock()
    provider = CountingProvider()
    search = NearbySearch(clean_database, cache_redis, provider, clock=clock)
    complete = await search.search(LAT, LON, [BATTERY], 1_000, 10)
    assert [p.name for p in complete.points] == ["카카오 수거함"]

    clock.now += PROVIDER_FRESH_SECONDS + 1
    provider.failing = True
    stale = await search.search(LAT, LON, [BATTERY], 1_000, 10)
    assert stale.stale is True
    assert stale.partial is False
    assert [p.name for p in stale.points] == ["카카오 수거함"]
    await search.close()  # the background rebuild, which the provider failed
    assert provider.calls == 2

    kept = await search.search(LAT, LON, [BATTERY], 1_000, 10)
    assert kept.stale is False  # kept, fresh for a short while so the provider is not hammered
    assert [p.name for p in kept.points] == ["카카오 수거함"]
    clock.now += PARTIAL_RETRY_SECONDS + 1
    await search.search(LAT, LON, [BATTERY], 1_000, 10)
    await search.close()
    assert provider.calls == 3


async def test_a_miss_while_the_provider_fails_answers_our_points_as_partial(
    clean_database: AsyncEngine, cache_redis: Redis
) -> None:
    await add_points(clean_database, [point("battery", *offset(LAT, LON, 150, 0), "ours")])
    provider = CountingProvider()
    provider.failing = True
    answer = await NearbySearch(clean_database, cache_redis, provider).search(
        LAT, LON, [BATTERY], 1_000, 10
    )
    assert answer.partial is True
    assert [p.name for p in answer.points] == ["ours"]


async def test_without_redis_searches_go_to_postgresql(clean_database: AsyncEngine) -> None:
    await add_points(clean_database, [point("battery", *offset(LAT, LON, 150, 0), "ours")])
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    search = NearbySearch(clean_database, unreachable, None)
    for _ in range(2):
        answer = await search.search(LAT, LON, [BATTERY], 1_000, 10)
        assert [p.name for p in answer.points] == ["ours"]
    await unreachable.aclose()


async def test_the_hit_rate_is_in_metrics(
    locations: httpx.AsyncClient, person: dict[str, str]
) -> None:
    for _ in range(2):
        response = await locations.get(
            f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON}, headers=person
        )
        assert response.status_code == 200
    metrics = await locations.get("/metrics")
    assert 'bunri_location_cache_lookups_total{result="hit"}' in metrics.text
    assert 'bunri_location_cache_lookups_total{result="miss"}' in metrics.text
