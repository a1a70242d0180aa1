"""Fixed-window rate limits counted in Redis, shared by every replica of a service."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from bunri.redis import KEY_PREFIX

# Count, start the window on the first hit, and report the window's remaining time: one round trip.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


@dataclass(frozen=True, slots=True)
class Usage:
    count: int
    limit: int
    retry_after_seconds: int

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit


class FixedWindowLimiter:
    def __init__(self, redis: Redis, name: str, *, limit: int, window_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{KEY_PREFIX}ratelimit:{name}:"
        self._limit = limit
        self._window = window_seconds
        self._hit = redis.register_script(_HIT)

    async def hit(self, key: str) -> Usage:
        """Count one event; `exceeded` once the window holds more than `limit` of them."""
        count, ttl = await self._hit(keys=[self._prefix + key], args=[self._window])
        return Usage(int(count), self._limit, int(ttl))

    async def peek(self, key: str) -> Usage:
        """The window's count without adding to it; `exceeded` once it has reached `limit`."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._prefix + key)
        pipe.ttl(self._prefix + key)
        raw_count, ttl = await pipe.execute()
        # Reaching the limit blocks the next attempt, hence the +1.
        return Usage(int(raw_count or 0) + 1, self._limit, max(int(ttl), 1))

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)
