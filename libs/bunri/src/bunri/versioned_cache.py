"""A read cache in Redis that is never older than the database's last write: cache-aside for rows
that carry a version (the profile, the character).

An entry is `<version>|<representation>`; a write leaves `<version>|` (a tombstone carrying the
version it committed). Every store goes through one script that refuses to move an entry back
in version: a reader that read the database before a write and stores after it (the race of
plain cache-aside with delete) cannot put the older representation back over the writer's
tombstone. A tombstone is a miss; the next reader fills it with the version it names, or a later
one.

Redis is optional for correctness: a reader that cannot reach it reads the database; a writer
that cannot reach it leaves at most `ttl` seconds of staleness, which is why TTLs are short.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Final

import redis
from redis.asyncio import Redis as AsyncRedis

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


def _parse(entry: bytes | str | None) -> tuple[int, bytes] | None:
    """(version, representation) of a live entry; None for a miss or a tombstone."""
    if not entry:
        return None
    if isinstance(entry, str):
        entry = entry.encode()
    version, _, representation = entry.partition(b"|")
    return (int(version), representation) if representation else None


class AsyncVersionedCache:
    def __init__(self, client: AsyncRedis, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._store = client.register_script(_STORE_IF_NEWER)

    def key(self, subject: uuid.UUID) -> str:
        return f"{self._prefix}{subject}"

    async def get(self, subject: uuid.UUID) -> tuple[int, bytes] | None:
        return _parse(await self._client.get(self.key(subject)))

    async def fill(self, subject: uuid.UUID, version: int, representation: bytes) -> None:
        await self._store(keys=[self.key(subject)], args=[version, representation, self._ttl])

    async def written(self, subject: uuid.UUID, version: int) -> None:
        """After a commit that made `version`: readers go to the database until one fills it."""
        await self._store(keys=[self.key(subject)], args=[version, b"", self._ttl])

    async def forget(self, subject: uuid.UUID) -> None:
        await self._client.delete(self.key(subject))


class SyncVersionedCache:
    """The writer's half, for workers (a blocking client)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._store = client.register_script(_STORE_IF_NEWER)

    def written(self, subject: uuid.UUID, version: int) -> None:
        self._store(keys=[f"{self._prefix}{subject}"], args=[version, b"", self._ttl])

    def written_many(self, versions: Iterable[tuple[uuid.UUID, int]]) -> None:
        """`written` for many subjects, in one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for subject, version in versions:
            self._store(
                keys=[f"{self._prefix}{subject}"], args=[version, b"", self._ttl], client=pipe
            )
        pipe.execute()
