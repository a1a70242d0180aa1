"""Rate limits counted in Redis, shared by every replica of a service: fixed windows (sign-in
attempts, chat messages) and token buckets (uploads, queued questions)."""

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


# Refill by the time since the last take, then take `cost` if there is that much: one round trip.
# The time is Redis's own, so that every replica counts on one clock.
_TAKE = """
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or capacity
local at = tonumber(held[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_second)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_second) + 1)
local wait = 0
if allowed == 0 then wait = math.ceil((cost - tokens) / per_second) end
return {allowed, tostring(tokens), wait}
"""


@dataclass(frozen=True, slots=True)
class Take:
    allowed: bool
    tokens_left: float
    capacity: int
    retry_after_seconds: int

    @property
    def busy(self) -> bool:
        """Half the burst used: the person is sending faster than everyday use."""
        return self.tokens_left < self.capacity / 2


class TokenBucket:
    """A burst of `capacity`, refilled at `per_second`: everyday use never meets it, a flood
    slows to the refill rate."""

    def __init__(self, redis: Redis, name: str, *, capacity: int, per_second: float) -> None:
        self._prefix = f"{KEY_PREFIX}bucket:{name}:"
        self._capacity = capacity
        self._per_second = per_second
        self._take = redis.register_script(_TAKE)

    async def take(self, key: str, cost: int = 1) -> Take:
        allowed, tokens, wait = await self._take(
            keys=[self._prefix + key], args=[self._capacity, self._per_second, cost]
        )
        return Take(bool(allowed), float(tokens), self._capacity, int(wait))
