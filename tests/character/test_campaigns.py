"""Reward campaigns: started by an admin (POST /api/v1/character/campaigns, the role given in
the database as `bunri users grant-role` gives it, in the token of their next sign-in), written
whole with their chunks' messages in the outbox, granted chunk by chunk by the real character
worker, followed at their own URL; each person paid once, listed twice or a chunk delivered twice;
a request that cannot be granted refused whole; and a campaign whose worker is SIGKILLed
mid-chunk resumed to the end, every person paid exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.character.campaigns import chunk_message, get_campaign, grant_chunk, start_campaign
from bunri.character.leaderboard import ALL_TIME, board_key
from bunri.db.base import utcnow
from bunri.db.models import (
    Character,
    CharacterAward,
    OutboxMessage,
    RewardCampaign,
    RewardCampaignChunk,
    User,
)
from bunri.messaging.outbox import outbox_columns
from bunri.messaging.tasks import GRANT_CAMPAIGN_CHUNK
from bunri.worker.ledger import ScanLedger
from tests.scans.crash import Supervised
from tests.support.character import (
    CHARACTER,
    RESUMED,
    admin,
    backends_waiting_on_a_lock,
    books_disagree,
    count_awards,
    error_code,
    eventually,
    insert_users,
    points_of,
    relay_all,
    rows_held,
)
from tests.support.processes import log_lines

CAMPAIGNS = f"{CHARACTER}/campaigns"


def a_name(prefix: str = "spring") -> str:
    """A campaign name of this test's own: the worker's journal outlives the test's database."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def follow(
    character: httpx.AsyncClient, headers: dict[str, str], name: str, seconds: float = 60
) -> dict[str, Any]:
    """The campaign as GET shows it, once it has finished."""
    deadline = time.monotonic() + seconds
    while True:
        response = await character.get(f"{CAMPAIGNS}/{name}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["finished"]:
            return body
        assert time.monotonic() < deadline, f"campaign not finished: {body}"
        await asyncio.sleep(0.1)


def campaign_of(ledger: ScanLedger, name: str) -> RewardCampaign:
    with ledger.sessions() as session:
        return get_campaign(session, name)


def finished(ledger: ScanLedger, name: str) -> RewardCampaign | None:
    campaign = campaign_of(ledger, name)
    return campaign if campaign.finished_at is not None else None


def on_board(ledger: ScanLedger, people: list[uuid.UUID], points: int) -> bool:
    """Whether the all-time board holds each of `people` at `points`."""
    key = board_key(ALL_TIME, None)
    return all(ledger.redis.zscore(key, str(person)) == points for person in people)


def campaign_awards(ledger: ScanLedger, name: str) -> tuple[int, int]:
    """(awards of the campaign, people they went to)."""
    with ledger.sessions() as session:
        row = session.execute(
            select(func.count(), func.count(CharacterAward.user_id.distinct())).where(
                CharacterAward.key == f"campaign:{name}"
            )
        ).one()
    return int(row[0]), int(row[1])


def chunk_endings(worker: Supervised, name: str, number: int) -> list[str]:
    task_id = f"{GRANT_CAMPAIGN_CHUNK}:{name}:{number}"
    return [
        line["outcome"]
        for line in log_lines(worker.log)
        if line.get("event") == "task ended"
        and line.get("task_id") == task_id
        and line.get("outcome") not in ("given_back", "retry")
    ]


async def test_only_an_admin_starts_or_follows_a_campaign(
    character: httpx.AsyncClient, user: dict[str, str], clean_database: AsyncEngine
) -> None:
    body = {"name": "spring", "points": 5, "all": True}
    assert error_code(await character.post(CAMPAIGNS, json=body), 401) == "token_missing"
    assert error_code(await character.post(CAMPAIGNS, headers=user, json=body), 403) == "forbidden"
    read = await character.get(f"{CAMPAIGNS}/spring", headers=user)
    assert error_code(read, 403) == "forbidden"
    async with clean_database.connect() as connection:
        started = await connection.execute(text("SELECT count(*) FROM reward_campaigns"))
        assert started.scalar_one() == 0


async def test_a_campaign_pays_each_listed_person_once(
    character: httpx.AsyncClient,
    worker: Supervised,
    ledger: ScanLedger,
    auth_url: str,
    clean_database: AsyncEngine,
    character_vhost: str,
) -> None:
    boss = await admin(auth_url, clean_database)
    first, second, third = insert_users(ledger.sessions, 3)
    name = a_name()
    listed = [str(first), str(second), str(first), str(third)]
    started = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": name, "points": 25, "users": listed}
    )
    assert started.status_code == 202, started.text
    body = started.json()
    assert {key: body[key] for key in ("name", "points", "audience", "started_by")} == {
        "name": name,
        "points": 25,
        "audience": "users",
        "started_by": f"user:{boss.user_id}",
    }
    assert (body["users_total"], body["chunks_total"], body["users_granted"]) == (3, 1, 0)
    assert body["finished_at"] is None

    await relay_all(clean_database, character_vhost)  # (character-api relays them too)
    done = await follow(character, boss.headers, name)
    assert (done["users_granted"], done["users_skipped"], done["chunks_done"]) == (3, 0, 1)
    assert done["finished_at"] is not None
    assert campaign_awards(ledger, name) == (3, 3)
    for person in (first, second, third):
        assert points_of(ledger.sessions, person) == 25
    # After the chunk's commit, the worker puts its people on the boards.
    await eventually(lambda: on_board(ledger, [first, second, third], 25), "on the boards")
    assert count_awards(ledger.sessions, user_id=boss.user_id) == 0  # not listed

    # The chunk's message delivered again (a relay that died before deleting its row):
    with ledger.sessions() as session:
        session.add(OutboxMessage(**outbox_columns(chunk_message(name, 0))))
        session.commit()
    await relay_all(clean_database, character_vhost)
    outcomes = await eventually(
        lambda: (
            chunk_endings(worker, name, 0) if len(chunk_endings(worker, name, 0)) == 2 else None
        ),
        "the second delivery ended",
    )
    assert outcomes == ["granted", "duplicate"]
    # And run again where no journal knows it (another node): the database says it is done.
    with ledger.sessions() as session:
        again = grant_chunk(session, name, 0)
        session.commit()
    assert (again.word, again.granted) == ("duplicate", [])
    assert campaign_awards(ledger, name) == (3, 3)
    assert [points_of(ledger.sessions, person) for person in (first, second, third)] == [25] * 3
    assert (await follow(character, boss.headers, name))["users_granted"] == 3
    assert books_disagree(ledger.sessions) == []


async def test_a_campaign_in_chunks_skips_who_left_meanwhile(
    worker: Supervised, ledger: ScanLedger, clean_database: AsyncEngine, character_vhost: str
) -> None:
    people = insert_users(ledger.sessions, 5)
    name = a_name("chunks")
    with ledger.sessions() as session:
        started = start_campaign(
            session,
            name=name,
            points=7,
            started_by="test",
            users=[*people, people[0]],
            chunk_size=2,
        )
        session.commit()
        assert (started.users_total, started.chunks_total) == (5, 3)
    with ledger.sessions() as session:  # one of them leaves before their chunk is granted
        session.execute(update(User).where(User.id == people[4]).values(deleted_at=utcnow()))
        session.commit()

    assert await relay_all(clean_database, character_vhost) == 3
    done = await eventually(lambda: finished(ledger, name), "the campaign finished")
    assert (done.users_granted, done.users_skipped, done.chunks_done) == (4, 1, 3)
    assert campaign_awards(ledger, name) == (4, 4)
    assert points_of(ledger.sessions, people[4]) == 0
    with ledger.sessions() as session:
        granted = session.scalars(
            select(RewardCampaignChunk.granted)
            .where(RewardCampaignChunk.campaign == name)
            .order_by(RewardCampaignChunk.number)
        ).all()
    assert granted == [2, 2, 0]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"points": 5, "all": True, "users": []}, 422, "validation_error"),
        ({"points": 5}, 422, "validation_error"),
        ({"points": 0, "all": True}, 422, "validation_error"),
        ({"points": 100_001, "all": True}, 422, "validation_error"),
        ({"points": 5, "all": True, "note": "x"}, 422, "validation_error"),
        ({"points": 5, "users": ["not-an-id"]}, 422, "validation_error"),
    ],
    ids=["all and users", "neither", "no points", "too many points", "unknown field", "bad id"],
)
async def test_a_malformed_campaign_is_422(
    character: httpx.AsyncClient,
    auth_url: str,
    clean_database: AsyncEngine,
    body: dict[str, Any],
    status: int,
    code: str,
) -> None:
    boss = await admin(auth_url, clean_database)
    response = await character.post(CAMPAIGNS, headers=boss.headers, json={"name": "x"} | body)
    assert error_code(response, status) == code
    assert error_code(await character.get(f"{CAMPAIGNS}/x", headers=boss.headers), 404) == (
        "unknown_campaign"
    )


async def test_a_campaign_that_cannot_be_granted_is_refused_whole(
    character: httpx.AsyncClient, ledger: ScanLedger, auth_url: str, clean_database: AsyncEngine
) -> None:
    boss = await admin(auth_url, clean_database)
    (known,) = insert_users(ledger.sessions, 1)
    ghost = uuid.uuid4()
    unknown = await character.post(
        CAMPAIGNS,
        headers=boss.headers,
        json={"name": "ghosts", "points": 5, "users": [str(known), str(ghost)]},
    )
    assert error_code(unknown, 400) == "invalid_user_list"
    assert unknown.json()["error"]["unknown"] == [str(ghost)]
    missing = await character.get(f"{CAMPAIGNS}/ghosts", headers=boss.headers)
    assert error_code(missing, 404) == "unknown_campaign"
    with ledger.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RewardCampaignChunk)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    first = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": "twice", "points": 5, "users": [str(known)]}
    )
    assert first.status_code == 202, first.text
    again = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": "twice", "points": 9, "all": True}
    )
    assert error_code(again, 409) == "campaign_exists"
    kept = await character.get(f"{CAMPAIGNS}/twice", headers=boss.headers)
    assert (kept.json()["points"], kept.json()["audience"]) == (5, "users")

    odd_name = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": "Spring Sale!", "points": 5, "all": True}
    )
    assert odd_name.status_code == 400, odd_name.text
    assert "name" in odd_name.json()["error"]["message"]


async def test_a_campaign_for_nobody_is_refused(
    character: httpx.AsyncClient, auth_url: str, clean_database: AsyncEngine
) -> None:
    """An empty list names nobody (as `bunri rewards grant` says of an empty file): refused, and
    the name stays free, rather than a campaign of no one that has finished and taken it."""
    boss = await admin(auth_url, clean_database)
    empty = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": "nobody", "points": 5, "users": []}
    )
    assert empty.status_code in (400, 422), empty.text
    assert empty.json()["error"]["code"] in ("invalid_user_list", "validation_error")
    taken = await character.get(f"{CAMPAIGNS}/nobody", headers=boss.headers)
    assert error_code(taken, 404) == "unknown_campaign"


async def test_a_campaign_for_everyone_pays_every_account_now(
    character: httpx.AsyncClient,
    worker: Supervised,
    ledger: ScanLedger,
    auth_url: str,
    clean_database: AsyncEngine,
    character_vhost: str,
) -> None:
    boss = await admin(auth_url, clean_database)
    people = insert_users(ledger.sessions, 4)
    with ledger.sessions() as session:  # someone who is leaving gets nothing
        session.execute(update(User).where(User.id == people[3]).values(deleted_at=utcnow()))
        session.commit()
    name = a_name("everyone")
    started = await character.post(
        CAMPAIGNS, headers=boss.headers, json={"name": name, "points": 4, "all": True}
    )
    assert started.status_code == 202, started.text
    assert (started.json()["audience"], started.json()["users_total"]) == ("all", 4)
    await relay_all(clean_database, character_vhost)
    done = await follow(character, boss.headers, name)
    assert (done["users_granted"], done["users_skipped"]) == (4, 0)
    everyone = [boss.user_id, *people[:3]]
    assert [points_of(ledger.sessions, person) for person in everyone] == [4] * 4
    assert points_of(ledger.sessions, people[3]) == 0
    assert campaign_awards(ledger, name) == (4, 4)


async def test_a_campaign_resumes_after_the_worker_is_killed_mid_chunk(
    worker: Supervised, ledger: ScanLedger, clean_database: AsyncEngine, character_vhost: str
) -> None:
    people = insert_users(ledger.sessions, 3000)
    name = a_name("everyone")
    with ledger.sessions() as session:
        started = start_campaign(session, name=name, points=3, started_by="test", users=None)
        session.commit()
        assert (started.users_total, started.chunks_total) == (3000, 3)
    starts = worker.starts
    resumed = worker.log_count(RESUMED)

    # The campaign's row held: a chunk's transaction pays its thousand people, moves their
    # characters and then waits to count itself done. The worker dies there.
    with rows_held(
        ledger.sessions,
        "SELECT name FROM reward_campaigns WHERE name = :name FOR UPDATE",
        name=name,
    ):
        assert await relay_all(clean_database, character_vhost) == 3
        await eventually(
            lambda: backends_waiting_on_a_lock(ledger.sessions) >= 1,
            "a chunk waits, mid-transaction, to count itself done",
            seconds=60,
        )
        worker.kill()
    await eventually(lambda: worker.starts > starts, "the supervisor restarted the worker")
    done = await eventually(
        lambda: finished(ledger, name), "the campaign finished after the restart", seconds=90
    )
    # The chunks the kill interrupted ran again from the start (the journal had them).
    assert worker.log_count(RESUMED) > resumed
    assert (done.users_granted, done.users_skipped) == (3000, 0)
    assert (done.chunks_done, done.chunks_total) == (3, 3)
    assert campaign_awards(ledger, name) == (3000, 3000)
    with ledger.sessions() as session:
        points = session.execute(
            select(Character.points, func.count()).group_by(Character.points)
        ).all()
        chunks = session.scalars(
            select(RewardCampaignChunk.granted)
            .where(RewardCampaignChunk.campaign == name)
            .order_by(RewardCampaignChunk.number)
        ).all()
    assert points == [(3, 3000)]
    assert chunks == [1000, 1000, 1000]
    assert books_disagree(ledger.sessions) == []
    # After each chunk's commit, the worker puts its people on the boards.
    await eventually(
        lambda: on_board(ledger, [people[0], people[-1]], 3), "the boards have everyone"
    )
