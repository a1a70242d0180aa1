"""GET /api/v1/locations/nearby and /for-class against PostGIS: order, distances, filters, and
every bad input with its own code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bunri import migrations
from bunri.locations.kinds import all_kinds
from bunri.locations.points import haversine_m
from tests.support.character import error_code
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


async def test_points_come_nearest_first_with_their_distances(
    locations: httpx.AsyncClient, person: dict[str, str], clean_database: AsyncEngine
) -> None:
    placed = {
        name: offset(LAT, LON, north, east)
        for name, (north, east) in {
            "far": (0, 900),
            "near": (120, 0),
            "middle": (-300, 250),
            "outside": (1_500, 0),
        }.items()
    }
    await add_points(
        clean_database, [point("battery", lat, lon, name) for name, (lat, lon) in placed.items()]
    )
    await add_points(clean_database, [point("clothes", *offset(LAT, LON, 50, 0), "clothes bin")])

    response = await locations.get(
        f"{LOCATIONS}/nearby",
        params={"lat": LAT, "lon": LON, "kind": "battery", "radius": 1_000},
        headers=person,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["name"] for item in body["items"]] == ["near", "middle", "far"]
    for item in body["items"]:
        expected = haversine_m(LAT, LON, *placed[item["name"]])
        assert abs(item["distance_m"] - expected) <= 1, item
        assert item["kind"] == "battery"
        assert item["source"] == "test"
    # By hand: 120 m north; 300 m south and 250 m east, sqrt(300² + 250²) = 390.51 m; 900 m east.
    assert [item["distance_m"] for item in body["items"]] == [120, 391, 900]
    assert body["kinds"] == ["battery"]
    assert body["partial"] is False


async def test_without_a_kind_every_kind_is_searched(
    locations: httpx.AsyncClient, person: dict[str, str], clean_database: AsyncEngine
) -> None:
    await add_points(
        clean_database,
        [
            point("battery", *offset(LAT, LON, 200, 0)),
            point("medicine", *offset(LAT, LON, 100, 0)),
            point("lamp", *offset(LAT, LON, 0, 400)),
        ],
    )
    response = await locations.get(
        f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON}, headers=person
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["kind"] for item in body["items"]] == ["medicine", "battery", "lamp"]
    assert body["kinds"] == list(all_kinds())


async def test_limit_and_radius_bound_the_list(
    locations: httpx.AsyncClient, person: dict[str, str], clean_database: AsyncEngine
) -> None:
    await add_points(
        clean_database,
        [point("clothes", *offset(LAT, LON, 100 * step, 0), f"bin {step}") for step in range(1, 9)],
    )
    response = await locations.get(
        f"{LOCATIONS}/nearby",
        params={"lat": LAT, "lon": LON, "kind": "clothes", "radius": 650, "limit": 3},
        headers=person,
    )
    assert [item["name"] for item in response.json()["items"]] == ["bin 1", "bin 2", "bin 3"]
    wide = await locations.get(
        f"{LOCATIONS}/nearby",
        params={"lat": LAT, "lon": LON, "kind": "clothes", "radius": 650},
        headers=person,
    )
    assert [item["name"] for item in wide.json()["items"]] == [f"bin {n}" for n in range(1, 7)]


async def test_nothing_near_is_an_empty_list_not_a_404(
    locations: httpx.AsyncClient, person: dict[str, str]
) -> None:
    response = await locations.get(
        f"{LOCATIONS}/nearby", params={"lat": 35.1796, "lon": 129.0756}, headers=person
    )
    assert response.status_code == 200, response.text
    assert response.json()["items"] == []


async def test_a_class_leads_to_its_kinds(
    locations: httpx.AsyncClient, person: dict[str, str], clean_database: AsyncEngine
) -> None:
    await add_points(
        clean_database,
        [
            point("battery", *offset(LAT, LON, 300, 0), "battery box"),
            point("clothes", *offset(LAT, LON, 100, 0), "clothes bin"),
        ],
    )
    batteries = await locations.get(
        f"{LOCATIONS}/for-class", params={"middle": "전지", "lat": LAT, "lon": LON}, headers=person
    )
    assert batteries.status_code == 200, batteries.text
    body = batteries.json()
    assert body["middle"] == "전지"
    assert body["kinds"] == ["battery"]
    assert [item["name"] for item in body["items"]] == ["battery box"]

    paper = await locations.get(
        f"{LOCATIONS}/for-class", params={"middle": "종이", "lat": LAT, "lon": LON}, headers=person
    )
    assert paper.status_code == 200, paper.text
    assert paper.json()["kinds"] == []
    assert paper.json()["items"] == []

    unknown = await locations.get(
        f"{LOCATIONS}/for-class",
        params={"middle": "우주선", "lat": LAT, "lon": LON},
        headers=person,
    )
    assert error_code(unknown, 404) == "unknown_class"


def test_every_kind_names_real_taxonomy_classes() -> None:
    from bunri.guides.loader import load_taxonomy

    middles = {middle.name for major in load_taxonomy().majors for middle in major.middles}
    for kind in all_kinds().values():
        assert kind.middles, kind.code
        assert set(kind.middles) <= middles, kind.code


async def test_kinds_are_listed(locations: httpx.AsyncClient, person: dict[str, str]) -> None:
    response = await locations.get(f"{LOCATIONS}/kinds", headers=person)
    assert response.status_code == 200, response.text
    assert {item["code"] for item in response.json()["items"]} == set(all_kinds())


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"lat": 91, "lon": LON}, "validation_error"),
        ({"lat": LAT, "lon": -180.5}, "validation_error"),
        ({"lat": "north", "lon": LON}, "validation_error"),
        ({"lat": "nan", "lon": LON}, "validation_error"),
        ({"lat": LAT, "lon": "inf"}, "validation_error"),
        ({"lon": LON}, "validation_error"),
        ({"lat": LAT, "lon": LON, "radius": 10_001}, "validation_error"),
        ({"lat": LAT, "lon": LON, "radius": 0}, "validation_error"),
        ({"lat": LAT, "lon": LON, "limit": 51}, "validation_error"),
        ({"lat": LAT, "lon": LON, "kind": "spaceship"}, "unknown_kind"),
        ({"lat": LAT, "lon": LON, "kind": "bat\x00tery"}, "invalid_text"),
    ],
)
async def test_bad_input_is_a_422_with_a_code(
    locations: httpx.AsyncClient,
    person: dict[str, str],
    params: dict[str, str | int | float],
    code: str,
) -> None:
    response = await locations.get(f"{LOCATIONS}/nearby", params=params, headers=person)
    assert error_code(response, 422) == code


async def test_a_token_is_required(locations: httpx.AsyncClient) -> None:
    response = await locations.get(f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON})
    assert response.status_code == 401


async def test_without_postgis_the_domain_says_so_with_a_503(
    location_env: dict[str, str], person: dict[str, str], tmp_path: Path
) -> None:
    """Standalone on SQLite: everything else works; locations answer dependency_unavailable."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'bunri.db'}"
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as connection:
        await migrations.upgrade(connection)
    await engine.dispose()
    settings = location_settings(location_env, database_url=url)
    async with location_api_client(settings) as client:
        response = await client.get(
            f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON}, headers=person
        )
        assert error_code(response, 503) == "dependency_unavailable"
        assert "PostGIS" in response.json()["error"]["message"]
        kinds = await client.get(f"{LOCATIONS}/kinds", headers=person)
        assert kinds.status_code == 200


async def test_a_burst_on_a_fresh_service_is_answered_while_it_checks_for_postgis(
    locations: httpx.AsyncClient, person: dict[str, str]
) -> None:
    """The first searches arrive together, before the service has asked PostgreSQL whether it
    has PostGIS: they wait for that answer instead of getting 503."""
    answers = await asyncio.gather(
        *(
            locations.get(f"{LOCATIONS}/nearby", params={"lat": LAT, "lon": LON}, headers=person)
            for _ in range(20)
        )
    )
    assert [answer.status_code for answer in answers] == [200] * 20
