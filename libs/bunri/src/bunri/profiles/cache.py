"""The profile's read cache in Redis: cache-aside, and never older than the database's last write.

An entry is `<version>|<representation>`; a write leaves `<version>|` (a tombstone carrying the
version it committed). Every store goes through one script that refuses to move an entry back
in version: a reader that read the database before a write and stores after it (the race of
plain cache-aside with delete) cannot put the older profile back over the writer's tombstone.
A tombstone is a miss; the next reader fills it with the version it names, or a later one.

Redis is optional for correctness: a reader that cannot reach it reads the database; a writer
that cannot reach it leaves at most `ttl` seconds of staleness, which is why the TTL is short.
"""

from __future__ import annotations

import uuid
from typing import Final

import redis
from redis.asyncio import Redis as AsyncRedis

from bunri.redis import KEY_PREFIX

_PREFIX: Final = KEY_PREFIX + "my:profile:"
# Short: it bounds how stale a read can be after a write that could not reach Redis.
TTL_SECONDS: Final = 60

# KEYS[1]: the entry; ARGV: version, representation ('' for a tombstone), ttl in seconds.
# An equal version replaces only a tombstone, and only with a representation.
_STORE_IF_NEWER: Final = """
local current = redis.call('GET', KEYS[1])
local version = tonumber(ARGV[1])
if current then
  local bar = string.find(current, '|', 1, true)
  local held = tonumber(string.sub(current, 1, bar - 1))
  if version < held then return 0 end
  if version == held and (bar < #current or ARGV[2] == '') then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1
"""


def profile_cache_key(user_id: uuid.UUID | str) -> str:
    return f"{_PREFIX}{user_id}"


def _parse(entry: bytes | str | None) -> tuple[int, bytes] | None:
    """(version, representation) of a live entry; None for a miss or a tombstone."""
    if not entry:
        return None
    if isinstance(entry, str):
        entry = entry.encode()
    version, _, representation = entry.partition(b"|")
    return (int(version), representation) if representation else None


class AsyncProfileCache:
    def __init__(self, client: AsyncRedis, ttl_seconds: int = TTL_SECONDS) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._store = client.register_script(_STORE_IF_NEWER)

    async def get(self, user_id: uuid.UUID) -> tuple[int, bytes] | None:
        return _parse(await self._client.get(profile_cache_key(user_id)))

    async def fill(self, user_id: uuid.UUID, version: int, representation: bytes) -> None:
        await self._store(
            keys=[profile_cache_key(user_id)], args=[version, representation, self._ttl]
        )

    async def written(self, user_id: uuid.UUID, version: int) -> None:
        """After a commit that made `version`: readers go to the database until one fills it."""
        await self._store(keys=[profile_cache_key(user_id)], args=[version, b"", self._ttl])

    async def forget(self, user_id: uuid.UUID) -> None:
        await self._client.delete(profile_cache_key(user_id))


class SyncProfileCache:
    """The writer's half, for workers (a blocking client)."""

    def __init__(self, client: redis.Redis, ttl_seconds: int = TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._store = client.register_script(_STORE_IF_NEWER)

    def written(self, user_id: uuid.UUID, version: int) -> None:
        self._store(keys=[profile_cache_key(user_id)], args=[version, b"", self._ttl])
