"""location-api with Kakao Local (its fake, over HTTP): where our points are few, Kakao's are
merged in and labelled; where it fails, our own are answered, marked partial."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.fake_kakao import DEFAULT_KEY, FakeKakao, fake_kakao
from tests.support.locations import (
    CITY_HALL,
    LOCATIONS,
    add_points,
    location_api_client,
    location_settings,
    offset,
    point,
)

LAT, LON = CITY_HALL


@pytest.fixture(scope="module")
def kakao() -> Iterator[FakeKakao]:
    with fake_kakao() as fake:
        yield fake


@pytest.fixture
async def with_kakao(
    location_env: dict[str, str], kakao: FakeKakao, clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    kakao.reset()
    settings = location_settings(
        location_env,
        kakao_rest_api_key=DEFAULT_KEY,
        kakao_base_url=kakao.url,
        kakao_timeout_seconds=0.3,
    )
    async with location_api_client(settings) as client:
        yield client


async def test_few_points_of_ours_are_topped_up_from_kakao(
    with_kakao: httpx.AsyncClient,
    kakao: FakeKakao,
    person: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    await add_points(clean_database, [point("battery", *offset(LAT, LON, 50, 0), "ours")])
    params: dict[str, str | float] = {"lat": LAT, "lon": LON, "kind": "battery", "radius": 2_000}

    response = await with_kakao.get(f"{LOCATIONS}/nearby", params=params, headers=person)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["partial"] is False
    sources = [item["source"] for item in body["items"]]
    assert sources[0] == "test"
    assert "kakao" in sources
    kakao_items = [item for item in body["items"] if item["source"] == "kakao"]
    assert all(item["id"].startswith("kakao:") for item in kakao_items)
    assert all(item["distance_m"] <= 2_000 for item in kakao_items)
    distances = [item["distance_m"] for item in body["items"]]
    assert distances == sorted(distances)
    assert kakao.requests[0]["query"] == "폐건전지 수거함"

    assert response.headers["X-Cache"] == "miss"
    again = await with_kakao.get(f"{LOCATIONS}/nearby", params=params, headers=person)
    assert again.headers["X-Cache"] == "hit"
    assert again.json()["items"] == body["items"]
    assert kakao.calls == 1  # the second answer never left Redis


async def test_enough_points_of_ours_need_no_kakao(
    with_kakao: httpx.AsyncClient,
    kakao: FakeKakao,
    person: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    await add_points(
        clean_database,
        [point("clothes", *offset(LAT, LON, 100 * n, 0), f"bin {n}") for n in range(1, 5)],
    )
    response = await with_kakao.get(
        f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON, "kind": "clothes"}, headers=person
    )
    assert {item["source"] for item in response.json()["items"]} == {"test"}
    assert kakao.calls == 0


@pytest.mark.parametrize("failure", ["hang", "rate_limited", "fail_next"])
async def test_a_failing_kakao_leaves_our_points_marked_partial(
    with_kakao: httpx.AsyncClient,
    kakao: FakeKakao,
    person: dict[str, str],
    clean_database: AsyncEngine,
    failure: str,
) -> None:
    await add_points(clean_database, [point("medicine", *offset(LAT, LON, 80, 0), "ours")])
    setattr(kakao, failure, 10 if failure == "fail_next" else True)

    response = await with_kakao.get(
        f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON, "kind": "medicine"}, headers=person
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["partial"] is True
    assert [item["name"] for item in body["items"]] == ["ours"]
