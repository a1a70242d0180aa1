"""my-api's side of the profile cache (`bunri.profiles.cache`): what it does when Redis fails.

Reads skip the cache for a few seconds after a failure rather than each wait for its own. A write
whose news could not reach the cache is not forgotten: the version it committed is kept here and
sent (as a tombstone, which never moves the cache back) every half second until Redis takes it;
until then this process reads that person's profile from the database. So once Redis is back,
the entry from before the write is gone within half a second, for every instance; only if this
process dies first does it live out its TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import redis.exceptions

from bunri.logging import get_logger
from bunri.profiles import AsyncProfileCache

log = get_logger(__name__)

PAUSE_SECONDS = 5.0
RESEND_SECONDS = 0.5
# Any failure of Redis's (away, read-only during a failover, out of memory): the cache is
# optional, the database answers.
_REDIS_DOWN = (redis.exceptions.RedisError, OSError)


class ResilientProfileCache:
    def __init__(self, cache: AsyncProfileCache) -> None:
        self._cache = cache
        self._paused_until = 0.0
        # Writes the cache has not heard of: person -> the version committed.
        self._unsent: dict[uuid.UUID, int] = {}
        self._resender: asyncio.Task[None] | None = None

    async def get(self, user_id: uuid.UUID) -> tuple[int, bytes] | None:
        if user_id in self._unsent or time.monotonic() < self._paused_until:
            return None
        try:
            return await self._cache.get(user_id)
        except _REDIS_DOWN as exc:
            self._pause(exc)
            return None

    async def fill(self, user_id: uuid.UUID, version: int, body: bytes) -> None:
        """A representation read from the database (cache-aside)."""
        if user_id in self._unsent or time.monotonic() < self._paused_until:
            return
        try:
            await self._cache.fill(user_id, version, body)
        except _REDIS_DOWN as exc:
            self._pause(exc)

    async def written(self, user_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a commit that made `version` (`body`): tried even while reads skip the cache."""
        try:
            await self._cache.fill(user_id, version, body)
        except _REDIS_DOWN as exc:
            self._pause(exc)
            self._unsent[user_id] = max(version, self._unsent.get(user_id, 0))
            if self._resender is None or self._resender.done():
                self._resender = asyncio.create_task(self._resend())

    async def close(self) -> None:
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender

    async def _resend(self) -> None:
        while self._unsent:
            await asyncio.sleep(RESEND_SECONDS)
            for user_id, version in list(self._unsent.items()):
                try:
                    await self._cache.written(user_id, version)
                except _REDIS_DOWN:
                    break
                if self._unsent.get(user_id) == version:
                    del self._unsent[user_id]
        log.info("profile cache told of the writes it missed")

    def _pause(self, exc: BaseException) -> None:
        log.warning("profile cache unavailable; reading the database", error=repr(exc))
        self._paused_until = time.monotonic() + PAUSE_SECONDS
