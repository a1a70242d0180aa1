"""Leaderboards in Redis sorted sets, a projection of PostgreSQL's points.

All-time and weekly (from Monday, Asia/Seoul), overall and per region (시·도, from the profile).
Every write sets a person's absolute points, and only upwards (`ZADD GT`; points never go
down): writing the same standing twice, or an older one after a newer, changes nothing. A board
is rebuilt from PostgreSQL, onto itself the same way, when its marker is missing (Redis flushed
or restarted empty) and every few hours.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final, cast

import redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.character.periods import local_day, week_start
from bunri.character.standing import Standing
from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterWeek, Profile, User
from bunri.redis import KEY_PREFIX

_PREFIX: Final = KEY_PREFIX + "character:board:"
# Each person's region as the boards hold them: a move takes them off the old region's boards.
_REGIONS: Final = KEY_PREFIX + "character:board-region"
WEEK_TTL_SECONDS: Final = 21 * 86400
REBUILD_EVERY_SECONDS: Final = 6 * 3600
ALL_TIME = "all"
WEEK = "week"
SCOPES = (ALL_TIME, WEEK)
TOP = 50


def board_key(scope: str, week: date | None, region: str | None = None) -> str:
    key = _PREFIX + (ALL_TIME if scope == ALL_TIME else f"week:{week}")
    return key if region is None else f"{key}:{region}"


def built_key(scope: str, week: date | None) -> str:
    return board_key(scope, week) + ":built"


Command = tuple[str, tuple[Any, ...], dict[str, Any]]


def board_writes(standings: list[Standing], previous: list[Any]) -> list[Command]:
    """The Redis commands putting `standings` on their boards, given the regions the boards had
    them in (`previous`, from `regions_of`)."""
    commands: list[Command] = []
    for standing, was in zip(standings, previous, strict=True):
        member = str(standing.user_id)
        region = standing.region
        old = was.decode() if isinstance(was, bytes) else was
        if old and old != region:
            commands += [
                ("zrem", (board_key(ALL_TIME, None, old), member), {}),
                ("zrem", (board_key(WEEK, standing.week_start, old), member), {}),
            ]
        commands.append(("hset", (_REGIONS, member, region or ""), {}))
        boards = [(None, standing.points, None), (standing.week_start, standing.week_points, 1)]
        for region_or_none in (None, region) if region else (None,):
            for week, points, weekly in boards:
                scope = ALL_TIME if weekly is None else WEEK
                key = board_key(scope, week, region_or_none)
                commands.append(("zadd", (key, {member: points}), {"gt": True}))
                if weekly:
                    commands.append(("expire", (key, WEEK_TTL_SECONDS), {}))
    return commands


def record_standings(client: redis.Redis, standings: list[Standing]) -> None:
    """Put these standings on every board they belong to (two round trips)."""
    if not standings:
        return
    previous = client.hmget(_REGIONS, [str(s.user_id) for s in standings])
    pipe = client.pipeline(transaction=False)
    for name, args, options in board_writes(standings, previous):
        getattr(pipe, name)(*args, **options)
    pipe.execute()


async def record_standings_async(client: AsyncRedis, standings: list[Standing]) -> None:
    """`record_standings` with an asyncio client."""
    if not standings:
        return
    previous = await client.hmget(_REGIONS, [str(s.user_id) for s in standings])
    pipe = client.pipeline(transaction=False)
    for name, args, options in board_writes(standings, previous):
        getattr(pipe, name)(*args, **options)
    await pipe.execute()


def forget_person(client: redis.Redis, user_id: uuid.UUID) -> None:
    """Take a person off every board (their account is being erased)."""
    this_week = week_start(local_day(utcnow()))
    weeks = [this_week - timedelta(weeks=back) for back in range(WEEK_TTL_SECONDS // 604800 + 1)]
    member = str(user_id)
    was = client.hget(_REGIONS, member)
    region = was.decode() if isinstance(was, bytes) else was
    pipe = client.pipeline(transaction=False)
    for key in [board_key(ALL_TIME, None), *(board_key(WEEK, week) for week in weeks)]:
        pipe.zrem(key, member)
        if region:
            pipe.zrem(f"{key}:{region}", member)
    pipe.hdel(_REGIONS, member)
    pipe.execute()


@dataclass(frozen=True, slots=True)
class Entry:
    user_id: uuid.UUID
    points: int
    rank: int


async def ensure_built(client: AsyncRedis, session: AsyncSession, scope: str, week: date) -> None:
    """Rebuild the scope's boards from PostgreSQL unless their marker says they are there."""
    marker = built_key(scope, week if scope == WEEK else None)
    if await client.exists(marker):
        return
    # One rebuilder at a time; another reader meanwhile reads what there is.
    if not await client.set(marker + ":lock", "1", nx=True, ex=60):
        return
    try:
        await _rebuild(client, session, scope, week, marker)
    finally:
        await client.delete(marker + ":lock")


async def _rebuild(
    client: AsyncRedis, session: AsyncSession, scope: str, week: date, marker: str
) -> None:
    user_id, points = (
        (Character.user_id, Character.points)
        if scope == ALL_TIME
        else (CharacterWeek.user_id, CharacterWeek.points)
    )
    query = (
        select(user_id, points, Profile.province_code)
        .join(User, User.id == user_id)
        .outerjoin(Profile, Profile.user_id == user_id)
        .where(User.deleted_at.is_(None))
    )
    if scope == WEEK:
        query = query.where(CharacterWeek.week_start == week)
    boards: dict[str, dict[str, int]] = {}
    regions: dict[Any, Any] = {}
    week_or_none = week if scope == WEEK else None
    for row in await session.execute(query):
        member = str(row.user_id)
        boards.setdefault(board_key(scope, week_or_none), {})[member] = row.points
        regions[member] = row.province_code or ""
        if row.province_code:
            regional = board_key(scope, week_or_none, row.province_code)
            boards.setdefault(regional, {})[member] = row.points
    pipe = client.pipeline(transaction=False)
    for key, members in boards.items():
        scored = list(members.items())
        for start in range(0, len(scored), 10_000):
            # Onto the live board, never lowering a score: points only grow, so a write made
            # meanwhile from a newer standing stays.
            pipe.zadd(key, dict(scored[start : start + 10_000]), gt=True)
        if scope == WEEK:
            pipe.expire(key, WEEK_TTL_SECONDS)
    if regions:
        pipe.hset(_REGIONS, mapping=regions)
    # Rebuilt every few hours anyway: a cache Redis may evict a board and keep its marker.
    pipe.set(marker, "1", ex=REBUILD_EVERY_SECONDS)
    await pipe.execute()


async def top(client: AsyncRedis, key: str, limit: int = TOP) -> list[Entry]:
    """The board's first `limit`, ranked as sports do: equal points, equal rank."""
    members = cast(
        list[tuple[bytes, float]], await client.zrevrange(key, 0, limit - 1, withscores=True)
    )
    entries: list[Entry] = []
    for position, (member, score) in enumerate(members):
        points = int(score)
        rank = entries[-1].rank if entries and entries[-1].points == points else position + 1
        entries.append(Entry(uuid.UUID(member.decode()), points, rank))
    return entries


async def rank_of(client: AsyncRedis, key: str, user_id: uuid.UUID) -> Entry | None:
    """The person's place on the board (None: not on it)."""
    score = await client.zscore(key, str(user_id))
    if score is None:
        return None
    ahead = await client.zcount(key, f"({score}", "+inf")
    return Entry(user_id, int(score), int(ahead) + 1)
