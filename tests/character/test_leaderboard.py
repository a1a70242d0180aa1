"""Leaderboards (/api/v1/character/leaderboard): Redis sorted sets projected from PostgreSQL's
points, this week's and all time, overall and per 시·도; nicknames only, ranked as sports do, the
caller's own rank; rebuilt from PostgreSQL when Redis lost them, to the same answer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql import insert

from bunri.character.periods import local_day, week_start
from bunri.character.projections import project
from bunri.character.standing import standings
from bunri.db.base import utcnow
from bunri.db.models import Profile
from bunri.worker.ledger import ScanLedger
from tests.support.character import (
    CHARACTER,
    Person,
    award,
    error_code,
    scan_completed,
    sign_up,
    user_id_of,
)

LEADERBOARD = f"{CHARACTER}/leaderboard"


def live_in(ledger: ScanLedger, user_id: uuid.UUID, province: str | None) -> None:
    """The person's profile says they live in `province` (as my-api writes it)."""
    with ledger.sessions() as session:
        session.execute(
            insert(Profile)
            .values(
                user_id=user_id, province_code=province, created_at=utcnow(), updated_at=utcnow()
            )
            .on_conflict_do_update(
                index_elements=[Profile.user_id], set_={"province_code": province}
            )
        )
        session.commit()


def scans(ledger: ScanLedger, user_id: uuid.UUID, count: int, days_ago: int = 0) -> None:
    at = utcnow() - timedelta(days=days_ago)
    for _ in range(count):
        award(ledger, scan_completed(user_id, at=at))


async def board(
    character: httpx.AsyncClient, user: dict[str, str], **params: str
) -> dict[str, Any]:
    response = await character.get(LEADERBOARD, headers=user, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ranked(body: dict[str, Any]) -> list[tuple[int, str, int, bool]]:
    """The entries as (rank, nickname, points, me), ties in nickname order."""
    return sorted(
        (entry["rank"], entry["nickname"], entry["points"], entry["me"])
        for entry in body["entries"]
    )


@pytest.fixture
async def players(auth_url: str, ledger: ScanLedger) -> dict[str, Person]:
    """가 and 나 live in Seoul (11), 다 in Busan (26); 라 has no points. 가 earned 30 this week
    and 30 last week, 나 and 다 50 each this week."""
    people = {name: await sign_up(auth_url, name) for name in ("가", "나", "다", "라")}
    live_in(ledger, people["가"].user_id, "11")
    live_in(ledger, people["나"].user_id, "11")
    live_in(ledger, people["다"].user_id, "26")
    scans(ledger, people["가"].user_id, 3)
    scans(ledger, people["가"].user_id, 3, days_ago=7)
    scans(ledger, people["나"].user_id, 5)
    scans(ledger, people["다"].user_id, 5)
    return people


async def test_the_week_s_and_all_time_boards(
    character: httpx.AsyncClient,
    user: dict[str, str],
    ledger: ScanLedger,
    players: dict[str, Person],
) -> None:
    scans(ledger, user_id_of(user), 1)  # the caller: 10 points, no region

    week = await board(character, user)  # scope=week by default
    assert set(week) == {"scope", "week_start", "region", "entries", "me"}
    assert (week["scope"], week["region"]) == ("week", None)
    assert week["week_start"] == week_start(local_day(utcnow())).isoformat()
    assert ranked(week) == [
        (1, "나", 50, False),
        (1, "다", 50, False),
        (3, "가", 30, False),
        (4, "n", 10, True),
    ]
    assert week["me"] == {"rank": 4, "points": 10}
    for entry in week["entries"]:
        assert set(entry) == {"rank", "nickname", "points", "me"}

    everything = await board(character, user, scope="all")
    assert (everything["scope"], everything["week_start"]) == ("all", None)
    assert ranked(everything) == [
        (1, "가", 60, False),
        (2, "나", 50, False),
        (2, "다", 50, False),
        (4, "n", 10, True),
    ]
    # Nicknames only: no account id or e-mail of anyone.
    text = str(everything) + str(week)
    for person in players.values():
        assert str(person.user_id) not in text
        assert person.email not in text
    assert "@" not in text

    # Someone with no points is on no board.
    nobody = await board(character, players["라"].headers, scope="all")
    assert nobody["me"] is None
    assert "라" not in [entry["nickname"] for entry in nobody["entries"]]


async def test_a_region_s_boards(
    character: httpx.AsyncClient, ledger: ScanLedger, players: dict[str, Person]
) -> None:
    seoul = await board(character, players["가"].headers, region="11")
    assert seoul["region"] == "11"
    assert ranked(seoul) == [(1, "나", 50, False), (2, "가", 30, True)]
    assert seoul["me"] == {"rank": 2, "points": 30}
    seoul_ever = await board(character, players["가"].headers, region="11", scope="all")
    assert ranked(seoul_ever) == [(1, "가", 60, True), (2, "나", 50, False)]
    busan = await board(character, players["가"].headers, region="26", scope="all")
    assert ranked(busan) == [(1, "다", 50, False)]
    assert busan["me"] is None  # not on this region's board
    gyeonggi = await board(character, players["가"].headers, region="41")
    assert (gyeonggi["entries"], gyeonggi["me"]) == ([], None)

    # Moving takes a person off the old region's boards at their next change.
    live_in(ledger, players["가"].user_id, "26")
    scans(ledger, players["가"].user_id, 1)
    seoul = await board(character, players["나"].headers, region="11", scope="all")
    assert ranked(seoul) == [(1, "나", 50, True)]
    busan = await board(character, players["나"].headers, region="26", scope="all")
    assert ranked(busan) == [(1, "가", 70, False), (2, "다", 50, False)]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"region": "99"}, 422, "unknown_region"),
        ({"region": "1"}, 422, "validation_error"),
        ({"region": "11680"}, 422, "validation_error"),
        ({"scope": "month"}, 422, "validation_error"),
    ],
    ids=["unknown province", "one digit", "a district", "unknown scope"],
)
async def test_a_board_that_does_not_exist_is_422(
    character: httpx.AsyncClient,
    user: dict[str, str],
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    response = await character.get(LEADERBOARD, headers=user, params=params)
    assert error_code(response, status) == code


async def test_boards_lost_with_redis_are_rebuilt_the_same(
    character: httpx.AsyncClient,
    user: dict[str, str],
    ledger: ScanLedger,
    redis: Redis,
    players: dict[str, Person],
) -> None:
    scans(ledger, user_id_of(user), 2)
    asked = [
        {},
        {"scope": "all"},
        {"region": "11"},
        {"region": "11", "scope": "all"},
        {"region": "26", "scope": "all"},
    ]
    readers = [user, players["가"].headers, players["라"].headers]
    before = [await board(character, reader, **params) for reader in readers for params in asked]
    assert await redis.dbsize() > 0

    await redis.flushdb()  # Redis restarted empty

    after = [await board(character, reader, **params) for reader in readers for params in asked]
    assert after == before
    assert ranked(after[1])[0] == (1, "가", 60, False)
    keys = {key.decode() async for key in redis.scan_iter(match="bunri:character:board*")}
    assert any(key.endswith(":built") for key in keys), keys


async def test_a_standing_read_before_a_newer_one_does_not_win_when_written_last(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    """Two of the worker's pool children project one person's two events: the first read the
    person's standing (10 points) before the second committed, and writes it after the second
    wrote 20. The board must still say 20, as PostgreSQL does: points only grow."""
    person = user_id_of(user)
    scans(ledger, person, 1)
    assert (await board(character, user, scope="all"))["me"] == {"rank": 1, "points": 10}
    week = week_start(local_day(utcnow()))
    with ledger.sessions() as session:
        older = standings(session, [person], week)
    scans(ledger, person, 1)  # committed and projected: 20
    assert (await board(character, user, scope="all"))["me"] == {"rank": 1, "points": 20}

    project(ledger.redis, older)  # the slower projection lands last

    assert (await board(character, user, scope="all"))["me"] == {"rank": 1, "points": 20}
    assert (await board(character, user))["me"] == {"rank": 1, "points": 20}
