"""The profile's read cache in Redis (`bunri.versioned_cache`, under the profile's prefix)."""

from __future__ import annotations

import uuid
from typing import Final

import redis
from redis.asyncio import Redis as AsyncRedis

from bunri.redis import KEY_PREFIX
from bunri.versioned_cache import AsyncVersionedCache, SyncVersionedCache

_PREFIX: Final = KEY_PREFIX + "my:profile:"
# Short: it bounds how stale a read can be after a write that could not reach Redis.
TTL_SECONDS: Final = 60


def profile_cache_key(user_id: uuid.UUID | str) -> str:
    return f"{_PREFIX}{user_id}"


class AsyncProfileCache(AsyncVersionedCache):
    def __init__(self, client: AsyncRedis, ttl_seconds: int = TTL_SECONDS) -> None:
        super().__init__(client, _PREFIX, ttl_seconds)


class SyncProfileCache(SyncVersionedCache):
    def __init__(self, client: redis.Redis, ttl_seconds: int = TTL_SECONDS) -> None:
        super().__init__(client, _PREFIX, ttl_seconds)
