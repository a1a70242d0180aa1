"""What Redis holds of a character, written after each change commits: the read cache's tombstone
(`bunri.versioned_cache`) and the leaderboards. Both are rewritten from the database's standing,
so writing them again after a crash (a redelivered event finds its award, and projects anyway)
is harmless."""

from __future__ import annotations

import uuid
from typing import Final

import redis
from redis.asyncio import Redis as AsyncRedis

from bunri.character.leaderboard import record_standings, record_standings_async
from bunri.character.standing import Standing
from bunri.redis import KEY_PREFIX
from bunri.versioned_cache import AsyncVersionedCache, SyncVersionedCache

_PREFIX: Final = KEY_PREFIX + "character:doc:"
# Every change tombstones the entry; the TTL bounds staleness only when that write failed.
TTL_SECONDS: Final = 300


def character_cache_key(user_id: uuid.UUID) -> str:
    return f"{_PREFIX}{user_id}"


def async_character_cache(client: AsyncRedis) -> AsyncVersionedCache:
    return AsyncVersionedCache(client, _PREFIX, TTL_SECONDS)


def project(client: redis.Redis, standings: list[Standing]) -> None:
    """The read cache and the leaderboards after `standings` committed."""
    cache = SyncVersionedCache(client, _PREFIX, TTL_SECONDS)
    cache.written_many((standing.user_id, standing.version) for standing in standings)
    record_standings(client, standings)


async def project_async(client: AsyncRedis, standings: list[Standing]) -> None:
    """`project` with an asyncio client (character-api, after a claim)."""
    cache = async_character_cache(client)
    for standing in standings:
        await cache.written(standing.user_id, standing.version)
    await record_standings_async(client, standings)
