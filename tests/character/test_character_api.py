"""character-api's character and missions (/api/v1/character) against the real PostgreSQL and
Redis, with real tokens from auth-api: the character as a person sees it (level, next level,
stage, latest awards), read through the versioned cache with ETag and 304, the cache left behind
by every change; the day's and week's missions; claims, once each, even two at once over real
HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from bunri.character.periods import SEOUL, local_day, week_start
from bunri.character.projections import character_cache_key
from bunri.db.base import utcnow
from bunri.db.models import CharacterAward
from bunri.worker.ledger import ScanLedger
from tests.support.character import (
    CHARACTER,
    award,
    awards_of,
    chat_answered,
    count_awards,
    error_code,
    feedback_given,
    points_of,
    scan_completed,
    user_id_of,
)

MISSIONS = f"{CHARACTER}/missions"


def claim_path(mission_id: str) -> str:
    return f"{MISSIONS}/{mission_id}/claim"


async def read(character: httpx.AsyncClient, user: dict[str, str]) -> httpx.Response:
    response = await character.get(CHARACTER, headers=user)
    assert response.status_code == 200, response.text
    return response


# The character -------------------------------------------------------------------------------


async def test_reading_needs_a_token(character: httpx.AsyncClient) -> None:
    assert error_code(await character.get(CHARACTER), 401) == "token_missing"
    bogus = await character.get(CHARACTER, headers={"Authorization": "Bearer not-a-token"})
    error_code(bogus, 401)
    assert error_code(await character.get(MISSIONS), 401) == "token_missing"


async def test_a_new_character_is_a_seed_at_level_one(
    character: httpx.AsyncClient, user: dict[str, str]
) -> None:
    response = await read(character, user)
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.json() == {
        "version": 0,
        "points": 0,
        "level": 1,
        "next_level_at": 30,
        "points_to_next_level": 30,
        "stage": {"id": "seed", "name": "씨앗", "name_en": "Seed"},
        "recent_awards": [],
    }
    etag = response.headers["ETag"]
    assert etag == '"0"'
    unchanged = await character.get(CHARACTER, headers=user | {"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""


async def test_awards_raise_the_level_and_show_newest_first(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    person = user_id_of(user)
    kinds = ["유리병", "금속류", "플라스틱류", "종이류", "비닐류", "유리병", "금속류", "종이류"]
    for middle in kinds:
        award(ledger, scan_completed(person, middle=middle))
    award(ledger, scan_completed(person, unsure=True))  # 83 points
    body = (await read(character, user)).json()
    assert (body["points"], body["level"], body["next_level_at"], body["points_to_next_level"]) == (
        83,
        3,
        150,
        67,
    )
    assert body["stage"] == {"id": "sprout", "name": "새싹", "name_en": "Sprout"}
    recent = body["recent_awards"]
    assert len(recent) == 9
    assert (recent[0]["source"], recent[0]["points"], recent[0]["reason"]) == (
        "scan.completed",
        3,
        "unsure",
    )
    assert [entry["detail"]["middle"] for entry in recent[1:]] == kinds[::-1]
    assert all(entry["points"] == 10 and entry["reason"] is None for entry in recent[1:])
    stamps = [datetime.fromisoformat(entry["awarded_at"]) for entry in recent]
    assert stamps == sorted(stamps, reverse=True)

    # Only the latest ten are listed.
    award(ledger, feedback_given(person))
    award(ledger, chat_answered(person))
    recent = (await read(character, user)).json()["recent_awards"]
    assert [entry["source"] for entry in recent[:2]] == ["chat.answered", "scan.feedback"]
    assert len(recent) == 10


async def test_a_change_leaves_the_cached_character_behind(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    person = user_id_of(user)
    award(ledger, scan_completed(person))
    first = await read(character, user)
    etag = first.headers["ETag"]
    assert first.json()["points"] == 10
    # The read filled the cache, at the character's version.
    cached = ledger.redis.get(character_cache_key(person))
    assert isinstance(cached, bytes)
    assert cached.startswith(f"{first.json()['version']}|".encode())
    assert (
        await character.get(CHARACTER, headers=user | {"If-None-Match": etag})
    ).status_code == 304
    assert (await read(character, user)).json() == first.json()

    award(ledger, scan_completed(person))  # applied and projected, as the worker does
    changed = await character.get(CHARACTER, headers=user | {"If-None-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["points"] == 20
    assert changed.headers["ETag"] != etag
    assert changed.headers["ETag"] == f'"{changed.json()["version"]}"'
    listed = await character.get(CHARACTER, headers=user | {"If-None-Match": f'"1", {etag}'})
    assert listed.status_code == 200
    again = await character.get(
        CHARACTER, headers=user | {"If-None-Match": f'"1", {changed.headers["ETag"]}'}
    )
    assert again.status_code == 304


# Missions and claims -------------------------------------------------------------------------


async def test_the_missions_of_today_and_this_week(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    response = await character.get(MISSIONS, headers=user)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    today = local_day(utcnow())
    monday = week_start(today)
    assert [item["id"] for item in items] == [
        "daily-three-kinds",
        "daily-ask-batteries",
        "daily-unsure-feedback",
        "weekly-ten-scans",
        "weekly-five-questions",
    ]
    for item in items:
        assert (item["progress"], item["completed"], item["claimed"]) == (0, False, False)
        start = today if item["period"] == "daily" else monday
        assert item["period_start"] == start.isoformat()
        ends = datetime.fromisoformat(item["ends_at"])
        assert ends.astimezone(SEOUL).time().isoformat() == "00:00:00"
        assert ends > utcnow()
    three = items[0]
    assert (three["goal"], three["points"], three["title"]) == (
        3,
        20,
        "오늘 재활용품 세 종류 분리하기",
    )

    person = user_id_of(user)
    award(ledger, scan_completed(person, middle="유리병"))
    award(ledger, chat_answered(person, topics=["전지"]))
    by_id = {
        item["id"]: item for item in (await character.get(MISSIONS, headers=user)).json()["items"]
    }
    assert (by_id["daily-three-kinds"]["progress"], by_id["daily-three-kinds"]["completed"]) == (
        1,
        False,
    )
    batteries = by_id["daily-ask-batteries"]
    assert (batteries["progress"], batteries["completed"], batteries["claimed"]) == (1, True, False)
    assert by_id["weekly-ten-scans"]["progress"] == 1
    assert by_id["weekly-five-questions"]["progress"] == 1


async def test_a_mission_is_claimed_once_when_complete(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    person = user_id_of(user)
    unknown = await character.post(claim_path("daily-moon-landing"), headers=user)
    assert error_code(unknown, 404) == "unknown_mission"
    incomplete = await character.post(claim_path("daily-ask-batteries"), headers=user)
    assert error_code(incomplete, 409) == "mission_incomplete"
    assert (incomplete.json()["error"]["progress"], incomplete.json()["error"]["goal"]) == (0, 1)

    award(ledger, chat_answered(person, topics=["전지"]))
    before = await read(character, user)  # fills the cache
    assert before.json()["points"] == 2
    claimed = await character.post(claim_path("daily-ask-batteries"), headers=user)
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert (body["mission_id"], body["points"]) == ("daily-ask-batteries", 10)
    assert body["period_start"] == local_day(utcnow()).isoformat()

    # The claim left the cached character behind: the next read has the points.
    after = await character.get(CHARACTER, headers=user | {"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert after.json()["points"] == 12
    newest = after.json()["recent_awards"][0]
    assert (newest["source"], newest["points"], newest["detail"]["mission_id"]) == (
        "mission",
        10,
        "daily-ask-batteries",
    )

    again = await character.post(claim_path("daily-ask-batteries"), headers=user)
    assert error_code(again, 409) == "already_claimed"
    assert points_of(ledger.sessions, person) == 12
    assert count_awards(ledger.sessions, user_id=person, source="mission") == 1
    items = (await character.get(MISSIONS, headers=user)).json()["items"]
    batteries = next(item for item in items if item["id"] == "daily-ask-batteries")
    assert (batteries["completed"], batteries["claimed"]) == (True, True)


async def test_claims_at_once_from_several_devices_pay_once(
    character_url: str, user: dict[str, str], ledger: ScanLedger
) -> None:
    person = user_id_of(user)
    award(ledger, chat_answered(person, topics=["전지"]))
    award(ledger, feedback_given(person, predicted_unsure=True))  # 2 + 5 points so far

    async def claim(mission_id: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=character_url, timeout=30) as device:
            return await device.post(claim_path(mission_id), headers=user)

    for mission_id in ("daily-ask-batteries", "daily-unsure-feedback"):
        answers = await asyncio.gather(*(claim(mission_id) for _ in range(3)))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 409, 409], [answer.text for answer in answers]
        refused = [answer for answer in answers if answer.status_code == 409]
        assert {error_code(answer, 409) for answer in refused} == {"already_claimed"}
    assert points_of(ledger.sessions, person) == 7 + 10 + 10
    with ledger.sessions() as session:
        keys = session.scalars(
            select(CharacterAward.key).where(
                CharacterAward.user_id == person, CharacterAward.source == "mission"
            )
        ).all()
    today = local_day(utcnow()).isoformat()
    assert sorted(keys) == [
        f"mission:daily-ask-batteries:{today}",
        f"mission:daily-unsure-feedback:{today}",
    ]
    async with httpx.AsyncClient(base_url=character_url) as client:
        body = (await client.get(CHARACTER, headers=user)).json()
    assert body["points"] == 27


async def test_a_mission_completed_on_another_day_cannot_be_claimed_today(
    character: httpx.AsyncClient, user: dict[str, str], ledger: ScanLedger
) -> None:
    person = user_id_of(user)
    long_ago = datetime(2026, 1, 7, 3, 0, tzinfo=UTC)
    award(ledger, chat_answered(person, topics=["전지"], at=long_ago))
    refused = await character.post(claim_path("daily-ask-batteries"), headers=user)
    assert error_code(refused, 409) == "mission_incomplete"
    # Today's progress is what a claim looks at: none yet.
    assert (refused.json()["error"]["progress"], refused.json()["error"]["goal"]) == (0, 1)
    assert [award.source for award in awards_of(ledger.sessions, person)] == ["chat.answered"]


async def test_the_openapi_documents_the_routes(character: httpx.AsyncClient) -> None:
    response = await character.get(f"{CHARACTER}/openapi.json")
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    assert {
        CHARACTER,
        MISSIONS,
        f"{MISSIONS}/{{mission_id}}/claim",
        f"{CHARACTER}/leaderboard",
        f"{CHARACTER}/campaigns",
        f"{CHARACTER}/campaigns/{{name}}",
    } <= set(paths)
    assert "304" in paths[CHARACTER]["get"]["responses"]
    assert {"404", "409"} <= set(paths[f"{MISSIONS}/{{mission_id}}/claim"]["post"]["responses"])
