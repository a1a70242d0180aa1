"""Nearby answers in Redis, one entry per (kind, radius bucket, cell): see `cells`.

- **Single-flight.** A burst of misses for one entry makes one build: requests in this process
  share one task, and processes share a Redis lock; the others wait for the entry to appear.
- **Stale-while-revalidate.** An entry past its freshness is still answered, at once, while one
  request rebuilds it in the background. A rebuild that the live provider failed keeps the older,
  complete entry instead of replacing it with a partial one.
- **Invalidation.** An import removes the entries of every cell that a changed point is within
  reach of, and again once any build that read the database before the import has had its time:
  a build writes only while it holds its lock, so after `LOCK_SECONDS` nothing older can land.

Redis is not needed for correctness: without it every search is built from PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Final, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bunri.locations.cells import RADIUS_BUCKETS_M, Cell, cells_reaching
from bunri.locations.points import NearbyPoint
from bunri.logging import get_logger
from bunri.metrics.locations import CACHE_INVALIDATED, CACHE_LOOKUPS

log = get_logger(__name__)

PREFIX: Final = "loc:v1"
LOCK_SECONDS: Final = 10.0  # longer than a build can take: the provider's retries included
KEEP_SECONDS: Final = 24 * 3600  # how long a stale entry can still stand in for a failed rebuild
PARTIAL_RETRY_SECONDS: Final = 60.0  # a provider that failed is asked again after this

# KEYS: the lock; ARGV: its token.
_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: the entry, its lock; ARGV: the lock's token, the entry, seconds to keep it.
_STORE_IF_LOCKED: Final = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"""


@dataclass(frozen=True)
class Entry:
    built_at: float
    fresh_until: float
    partial: bool  # the live provider was needed and failed: our points only
    points: tuple[NearbyPoint, ...]

    def is_fresh(self, now: float) -> bool:
        return now < self.fresh_until

    def to_bytes(self) -> bytes:
        document = {
            "built_at": self.built_at,
            "fresh_until": self.fresh_until,
            "partial": self.partial,
            "points": [asdict(point) for point in self.points],
        }
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Entry:
        document = json.loads(raw)
        return cls(
            built_at=document["built_at"],
            fresh_until=document["fresh_until"],
            partial=document["partial"],
            points=tuple(NearbyPoint(**point) for point in document["points"]),
        )


# hit: fresh from Redis; stale: past its freshness, answered while a rebuild runs; miss: built
# for this request, or by another that this one waited on.
CacheResult = Literal["hit", "stale", "miss"]


@dataclass(frozen=True)
class Lookup:
    entry: Entry
    result: CacheResult


Builder = Callable[[str, int, Cell], Awaitable[Entry]]


def entry_key(kind: str, bucket: int, cell: Cell) -> str:
    return f"{PREFIX}:{kind}:{bucket}:{cell.key}"


class NearbyCache:
    def __init__(
        self,
        redis: Redis | None,
        build: Builder,
        *,
        poll_seconds: float = 0.02,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._build = build
        self._poll = poll_seconds
        self._clock = clock
        self._store = redis.register_script(_STORE_IF_LOCKED) if redis is not None else None
        self._release = redis.register_script(_RELEASE) if redis is not None else None
        self._in_flight: dict[str, asyncio.Task[Entry]] = {}
        self._refreshes: set[asyncio.Task[Entry]] = set()

    async def lookup(self, kinds: Sequence[str], bucket: int, cell: Cell) -> list[Lookup]:
        """One entry per kind, in order: from Redis where it has them, built where not."""
        keys = [entry_key(kind, bucket, cell) for kind in kinds]
        cached = await self._read_many(keys)
        now = self._clock()
        answers: list[Lookup | None] = []
        missing: list[int] = []
        for index, (kind, key, entry) in enumerate(zip(kinds, keys, cached, strict=True)):
            if entry is None:
                missing.append(index)
                answers.append(None)
            elif entry.is_fresh(now):
                CACHE_LOOKUPS.labels("hit").inc()
                answers.append(Lookup(entry, "hit"))
            else:
                CACHE_LOOKUPS.labels("stale").inc()
                answers.append(Lookup(entry, "stale"))
                self._refresh_in_background(kind, bucket, cell, key, entry)
        # Shielded: one caller hanging up must not cancel the build others are waiting on.
        built = await asyncio.gather(
            *(
                asyncio.shield(self._shared_build(kinds[index], bucket, cell, keys[index], None))
                for index in missing
            )
        )
        for index, entry in zip(missing, built, strict=True):
            answers[index] = Lookup(entry, "miss")
        return [answer for answer in answers if answer is not None]

    async def close(self) -> None:
        """Let background rebuilds finish (they are bounded by the build's own timeouts)."""
        await asyncio.gather(*self._refreshes, return_exceptions=True)

    async def _read_many(self, keys: list[str]) -> list[Entry | None]:
        if self._redis is None:
            return [None] * len(keys)
        try:
            values = await self._redis.mget(keys)
        except RedisError as exc:
            log.warning("location cache unavailable", error=repr(exc))
            return [None] * len(keys)
        return [Entry.from_bytes(value) if value else None for value in values]

    def _refresh_in_background(
        self, kind: str, bucket: int, cell: Cell, key: str, previous: Entry
    ) -> None:
        if key in self._in_flight:
            return
        task = asyncio.ensure_future(self._shared_build(kind, bucket, cell, key, previous))
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    def _shared_build(
        self, kind: str, bucket: int, cell: Cell, key: str, previous: Entry | None
    ) -> asyncio.Task[Entry]:
        """This process's one build of `key`: a request arriving during it waits for it."""
        task = self._in_flight.get(key)
        if task is not None:
            if previous is None:
                CACHE_LOOKUPS.labels("shared").inc()
            return task
        if previous is None:
            CACHE_LOOKUPS.labels("miss").inc()
        task = asyncio.ensure_future(
            self._build_across_processes(kind, bucket, cell, key, previous)
        )
        self._in_flight[key] = task
        task.add_done_callback(lambda _: self._in_flight.pop(key, None))
        return task

    async def _build_across_processes(
        self, kind: str, bucket: int, cell: Cell, key: str, previous: Entry | None
    ) -> Entry:
        if self._redis is None or self._store is None:
            return await self._build(kind, bucket, cell)
        lock = f"{key}:lock"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + LOCK_SECONDS
        try:
            while not await self._redis.set(lock, token, nx=True, px=int(LOCK_SECONDS * 1000)):
                if previous is not None:
                    return previous  # another process is renewing it
                waited = await self._wait_for(key, lock, deadline)
                if waited is not None:
                    return waited
                if time.monotonic() >= deadline:
                    # Not stored: the lock is still another's.
                    return await self._build(kind, bucket, cell)
        except RedisError as exc:
            log.warning("location cache unavailable", error=repr(exc))
            return await self._build(kind, bucket, cell)
        try:
            entry = await self._build(kind, bucket, cell)
        except BaseException:
            # Those waiting take the lock at once rather than when it expires.
            assert self._release is not None
            with contextlib.suppress(RedisError):
                await asyncio.shield(self._release(keys=[lock], args=[token]))
            raise
        if entry.partial and previous is not None and not previous.partial:
            # Stale-while-revalidate: the complete answer stands in until the provider is back.
            entry = Entry(
                previous.built_at,
                self._clock() + PARTIAL_RETRY_SECONDS,
                partial=False,
                points=previous.points,
            )
        try:
            await self._store(keys=[key, lock], args=[token, entry.to_bytes(), KEEP_SECONDS])
        except RedisError as exc:
            log.warning("location cache unavailable", error=repr(exc))
        return entry

    async def _wait_for(self, key: str, lock: str, deadline: float) -> Entry | None:
        """The entry once the lock's holder has stored it; None when the lock went without one
        (its holder failed: the caller may take the lock) or at the deadline."""
        assert self._redis is not None
        while time.monotonic() < deadline:
            await asyncio.sleep(self._poll)
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.exists(lock)
                raw, held = await pipe.execute()
            if raw:
                return Entry.from_bytes(raw)
            if not held:
                return None
        return None


async def invalidate_points(
    redis: Redis,
    touched: Sequence[tuple[str, float, float]],
    *,
    settle_seconds: float = LOCK_SECONDS,
) -> int:
    """Remove every entry that can hold one of `touched` ((kind, lat, lon) of a point added,
    moved or removed), now and again after `settle_seconds`; the number of keys removed."""
    keys = sorted(
        {
            entry_key(kind, bucket, cell)
            for kind, lat, lon in touched
            for bucket in RADIUS_BUCKETS_M
            for cell in cells_reaching(lat, lon, bucket)
        }
    )
    removed = await _unlink(redis, keys)
    if keys and settle_seconds > 0:
        await asyncio.sleep(settle_seconds)
        removed += await _unlink(redis, keys)
    CACHE_INVALIDATED.inc(removed)
    return removed


async def _unlink(redis: Redis, keys: list[str]) -> int:
    removed = 0
    for start in range(0, len(keys), 1000):
        removed += int(await redis.unlink(*keys[start : start + 1000]))
    return removed
