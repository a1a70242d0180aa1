"""Leaving takes a person off every leaderboard: the storage worker's account erasure (its
`AccountEraser`, run here on the real PostgreSQL and Redis) removes them from every board and
the character's cache, and their rows with the account; a board rebuilt afterwards does not bring
them back, and neither does a projection of theirs that lands while the erasure runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from bunri.character.campaigns import grant_chunk, start_campaign
from bunri.character.leaderboard import forget_person
from bunri.character.periods import local_day, week_start
from bunri.character.projections import character_cache_key, project
from bunri.character.standing import standings
from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterAward, RewardCampaignChunk, User
from bunri.journal import Journal
from bunri.settings import BunriSettings
from bunri.storage import create_object_store
from bunri.worker.ledger import ScanLedger
from storage_worker.erasure import AccountEraser
from tests.character.test_leaderboard import LEADERBOARD, board, live_in, ranked, scans
from tests.support.character import CHARACTER, Person, sign_up


@pytest.fixture
def eraser(ledger: ScanLedger, tmp_path: Path) -> Iterator[tuple[AccountEraser, Journal]]:
    """The storage worker's eraser over the test database and Redis, a node journal of its own
    and a local object store."""
    journal = Journal(tmp_path / "journal.sqlite3")
    store = create_object_store(BunriSettings(state_dir=tmp_path / "state"))
    try:
        yield AccountEraser(ledger.sessions, store, ledger.redis, ledger.redis, journal), journal
    finally:
        journal.close()


def leave(ledger: ScanLedger, user_id: uuid.UUID) -> None:
    """What my-api's DELETE /api/v1/my/account does before it publishes the erasure."""
    with ledger.sessions() as session:
        session.execute(
            update(User).where(User.id == user_id).values(deleted_at=utcnow(), email=None)
        )
        session.commit()


def erase(eraser: tuple[AccountEraser, Journal], user_id: uuid.UUID) -> str:
    account_eraser, journal = eraser
    task_id = f"my.erase_account:{user_id}"
    record = journal.begin(task_id, "my.erase_account", str(user_id)).record
    return account_eraser.erase(record, user_id, f"erasure-{uuid.uuid4()}")


async def redis_naming(redis: Redis, user_id: uuid.UUID) -> dict[str, Any]:
    """Every character key in Redis that still holds the person: board members, the board
    regions' entry, the cached character."""
    member = str(user_id)
    found: dict[str, Any] = {}
    async for raw in redis.scan_iter(match="bunri:character:*"):
        key = raw.decode()
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "zset" and await redis.zscore(key, member) is not None:
            found[key] = await redis.zscore(key, member)
        elif kind == "hash" and await redis.hexists(key, member):
            found[key] = await redis.hget(key, member)
        elif member in key:
            found[key] = await redis.get(key)
    return found


def rows_of(ledger: ScanLedger, user_id: uuid.UUID) -> tuple[int, int]:
    with ledger.sessions() as session:
        characters = session.scalar(
            select(func.count()).select_from(Character).where(Character.user_id == user_id)
        )
        awards = session.scalar(
            select(func.count())
            .select_from(CharacterAward)
            .where(CharacterAward.user_id == user_id)
        )
    return int(characters or 0), int(awards or 0)


@pytest.fixture
async def two(auth_url: str, ledger: ScanLedger) -> tuple[Person, Person]:
    """가 (Seoul, 30 this week and 20 last week) and 나 (20 this week)."""
    leaving, staying = await sign_up(auth_url, "가"), await sign_up(auth_url, "나")
    live_in(ledger, leaving.user_id, "11")
    scans(ledger, leaving.user_id, 3)
    scans(ledger, leaving.user_id, 2, days_ago=7)
    scans(ledger, staying.user_id, 2)
    return leaving, staying


async def test_an_erased_account_leaves_every_board(
    character: httpx.AsyncClient,
    ledger: ScanLedger,
    redis: Redis,
    eraser: tuple[AccountEraser, Journal],
    two: tuple[Person, Person],
) -> None:
    leaving, staying = two
    # Both boards built, and the leaving person's character cached.
    assert ranked(await board(character, staying.headers, scope="all"))[0] == (1, "가", 50, False)
    assert (await board(character, leaving.headers, region="11"))["me"] == {"rank": 1, "points": 30}
    assert (await character.get(CHARACTER, headers=leaving.headers)).status_code == 200
    assert await redis.exists(character_cache_key(leaving.user_id))
    held = await redis_naming(redis, leaving.user_id)
    assert len(held) >= 6, held  # all time, this week, last week (each overall and Seoul's), ...

    leave(ledger, leaving.user_id)
    assert erase(eraser, leaving.user_id) == "erased"

    assert await redis_naming(redis, leaving.user_id) == {}
    assert rows_of(ledger, leaving.user_id) == (0, 0)
    for scope in ("week", "all"):
        answer = await board(character, staying.headers, scope=scope)
        assert ranked(answer) == [(1, "나", 20, True)]
        assert answer["me"] == {"rank": 1, "points": 20}
    assert (await board(character, staying.headers, region="11"))["entries"] == []

    await redis.flushdb()  # rebuilt from PostgreSQL: the person is not there either
    assert ranked(await board(character, staying.headers, scope="all")) == [(1, "나", 20, True)]
    assert await redis_naming(redis, leaving.user_id) == {}


async def test_a_rebuild_during_the_erasure_leaves_out_a_person_who_is_leaving(
    character: httpx.AsyncClient,
    ledger: ScanLedger,
    redis: Redis,
    two: tuple[Person, Person],
) -> None:
    """Between the request (deleted_at set) and the erasure's last step, the person's rows are
    still there: a board rebuilt meanwhile leaves them out."""
    leaving, staying = two
    leave(ledger, leaving.user_id)
    forget_person(ledger.redis, leaving.user_id)
    await redis.flushdb()
    answer = await board(character, staying.headers, scope="all")
    assert ranked(answer) == [(1, "나", 20, True)]
    assert await redis_naming(redis, leaving.user_id) == {}


async def test_a_projection_landing_during_the_erasure_puts_nobody_back(
    character: httpx.AsyncClient,
    ledger: ScanLedger,
    redis: Redis,
    eraser: tuple[AccountEraser, Journal],
    two: tuple[Person, Person],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The character worker committed the person's last award just before they left, and its
    projection (a separate step, after the commit) lands after the erasure cleared Redis and
    before it deleted the rows. The person must not stay on the boards, where nothing would ever
    remove them (the all-time board has no expiry)."""
    leaving, staying = two
    assert ranked(await board(character, staying.headers, scope="all"))[0][1] == "가"
    week = week_start(local_day(utcnow()))
    delete_rows = AccountEraser._delete_rows

    def late_projection_then_rows(
        self: AccountEraser, user_id: uuid.UUID, scans: list[str]
    ) -> None:
        with ledger.sessions() as session:
            project(ledger.redis, standings(session, [leaving.user_id], week))
        delete_rows(self, user_id, scans)

    monkeypatch.setattr(AccountEraser, "_delete_rows", late_projection_then_rows)
    leave(ledger, leaving.user_id)
    assert erase(eraser, leaving.user_id) == "erased"

    assert rows_of(ledger, leaving.user_id) == (0, 0)
    assert await redis_naming(redis, leaving.user_id) == {}
    # What the person left behind would show: a rank taken by nobody.
    response = await character.get(LEADERBOARD, headers=staying.headers, params={"scope": "all"})
    assert response.json()["me"] == {"rank": 1, "points": 20}


async def test_an_erased_account_is_named_in_no_campaign(
    ledger: ScanLedger, eraser: tuple[AccountEraser, Journal], two: tuple[Person, Person]
) -> None:
    """A campaign's chunks keep the ids of the people they list (as JSON): once an account is
    erased, no chunk names it any more, as no other row does."""
    leaving, staying = two
    with ledger.sessions() as session:
        start_campaign(
            session,
            name="thanks",
            points=5,
            started_by="test",
            users=[leaving.user_id, staying.user_id],
        )
        session.commit()
    with ledger.sessions() as session:
        assert grant_chunk(session, "thanks", 0).word == "granted"
        session.commit()

    leave(ledger, leaving.user_id)
    assert erase(eraser, leaving.user_id) == "erased"

    with ledger.sessions() as session:
        listed = session.scalars(select(RewardCampaignChunk.user_ids)).all()
    assert all(str(leaving.user_id) not in chunk for chunk in listed), listed
