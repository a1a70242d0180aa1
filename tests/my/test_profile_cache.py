"""The profile's read cache in the real Redis: a read fills it, a write is never followed by a
stale read (through the same my-api or another one), the store script keeps a slow reader from
putting an older profile back, and a cache Redis that goes away costs nothing but the cache."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import my_api.cache
from bunri.profiles import AsyncProfileCache
from bunri.profiles.cache import TTL_SECONDS, profile_cache_key
from tests.support.my import my_api_client, my_settings
from tests.support.tcp_proxy import tcp_proxy

PROFILE = "/api/v1/my/profile"


async def read(my: httpx.AsyncClient, user: dict[str, str]) -> httpx.Response:
    response = await my.get(PROFILE, headers=user)
    assert response.status_code == 200, response.text
    return response


async def patch(
    my: httpx.AsyncClient, user: dict[str, str], body: dict[str, object], etag: str
) -> httpx.Response:
    response = await my.patch(PROFILE, headers=user | {"If-Match": etag}, json=body)
    assert response.status_code == 200, response.text
    return response


async def cached(redis: Redis, user_id: str) -> bytes | None:
    entry = await redis.get(profile_cache_key(user_id))
    assert entry is None or isinstance(entry, bytes)
    return entry


async def test_a_read_fills_the_cache_and_a_write_replaces_it(
    my: httpx.AsyncClient, user: dict[str, str], redis: Redis
) -> None:
    first = await read(my, user)
    user_id = first.json()["user_id"]
    assert await cached(redis, user_id) == b"1|" + first.content
    ttl = await redis.ttl(profile_cache_key(user_id))
    assert 0 < ttl <= TTL_SECONDS

    # Served from the cache now: what Redis holds is what a read answers.
    assert (await read(my, user)).content == first.content

    changed = await patch(my, user, {"nickname": "새이름"}, '"1"')
    assert await cached(redis, user_id) == b"2|" + changed.content
    after = await read(my, user)
    assert after.headers["ETag"] == '"2"'
    assert after.json()["nickname"] == "새이름"
    assert after.content == changed.content


async def test_a_tombstone_is_a_miss_filled_from_the_database(
    my: httpx.AsyncClient, user: dict[str, str], redis: Redis, clean_database: AsyncEngine
) -> None:
    """A worker's write (the photo's) commits, then leaves `<version>|`: the next read goes to
    PostgreSQL and fills the entry with the version the tombstone names."""
    first = await read(my, user)
    user_id = first.json()["user_id"]
    async with clean_database.begin() as connection:
        await connection.execute(
            text("UPDATE profiles SET version = 2, language = 'en' WHERE user_id = :id"),
            {"id": uuid.UUID(user_id)},
        )
    # Until the writer's tombstone, the cache serves what it holds.
    assert (await read(my, user)).headers["ETag"] == '"1"'
    await AsyncProfileCache(redis).written(uuid.UUID(user_id), 2)
    assert await cached(redis, user_id) == b"2|"

    after = await read(my, user)
    assert after.headers["ETag"] == '"2"'
    assert after.json()["language"] == "en"
    assert await cached(redis, user_id) == b"2|" + after.content


async def test_a_write_through_one_instance_is_read_through_another(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    user: dict[str, str],
) -> None:
    settings = my_settings(pipeline_env)
    async with my_api_client(settings) as one, my_api_client(settings) as two:
        await read(one, user)
        seen = await read(two, user)  # both have read (and cached) version 1
        assert seen.headers["ETag"] == '"1"'
        etag = seen.headers["ETag"]
        for round_ in range(1, 6):
            writer, reader = (one, two) if round_ % 2 else (two, one)
            changed = await patch(writer, user, {"nickname": f"round {round_}"}, etag)
            answer = await read(reader, user)
            assert answer.headers["ETag"] == changed.headers["ETag"], round_
            assert answer.json() == changed.json(), round_
            etag = changed.headers["ETag"]
        # And a stale If-None-Match through the other instance is not a 304.
        stale = await two.get(PROFILE, headers=user | {"If-None-Match": '"1"'})
        assert stale.status_code == 200
        assert stale.json()["nickname"] == "round 5"


async def test_the_store_script_never_moves_the_cache_back(redis: Redis) -> None:
    cache = AsyncProfileCache(redis)
    user_id = uuid.uuid4()
    key = profile_cache_key(user_id)

    assert await cache.get(user_id) is None
    await cache.fill(user_id, 2, b'{"version": 2}')
    assert await cache.get(user_id) == (2, b'{"version": 2}')

    # A slow reader that read version 1 before the write stores after it: refused.
    await cache.fill(user_id, 1, b'{"version": 1}')
    assert await cache.get(user_id) == (2, b'{"version": 2}')
    # The same version again does not replace a representation either.
    await cache.fill(user_id, 2, b'{"version": 2, "other": true}')
    assert await cache.get(user_id) == (2, b'{"version": 2}')

    # A writer committed version 3: a tombstone, a miss.
    await cache.written(user_id, 3)
    assert await redis.get(key) == b"3|"
    assert await cache.get(user_id) is None

    # A reader holding version 2 cannot fill over it; an older tombstone cannot either.
    await cache.fill(user_id, 2, b'{"version": 2}')
    assert await cache.get(user_id) is None
    await cache.written(user_id, 2)
    assert await redis.get(key) == b"3|"
    # Nor can a second tombstone of the same version.
    await cache.written(user_id, 3)
    assert await redis.get(key) == b"3|"

    # A reader of version 3 fills it (a late tombstone of 3 leaves it); version 4 replaces it.
    await cache.fill(user_id, 3, b'{"version": 3}')
    assert await cache.get(user_id) == (3, b'{"version": 3}')
    await cache.written(user_id, 3)
    assert await cache.get(user_id) == (3, b'{"version": 3}')
    await cache.written(user_id, 4)
    assert await cache.get(user_id) is None
    await cache.fill(user_id, 5, b'{"version": 5}')
    assert await cache.get(user_id) == (5, b'{"version": 5}')

    ttl = await redis.ttl(key)
    assert 0 < ttl <= TTL_SECONDS

    await cache.forget(user_id)
    assert await redis.get(key) is None


def redis_address(redis_url: str) -> tuple[str, int, str]:
    parts = urlsplit(redis_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port, parts.path.lstrip("/")


@pytest.fixture
def short_cache_pause(monkeypatch: pytest.MonkeyPatch) -> float:
    """After a Redis failure my-api reads past the cache for PAUSE_SECONDS: shorter here."""
    pause = 0.5
    monkeypatch.setattr(my_api.cache, "PAUSE_SECONDS", pause)
    return pause


async def wait_out_the_pause(pause: float) -> None:
    await asyncio.sleep(pause + 0.3)


async def test_the_profile_is_served_while_the_cache_redis_is_down(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    redis_url: str,
    user: dict[str, str],
    short_cache_pause: float,
) -> None:
    host, port, db = redis_address(redis_url)
    with tcp_proxy(host, port) as proxy:
        settings = my_settings(pipeline_env, cache_redis_url=f"redis://127.0.0.1:{proxy.port}/{db}")
        async with my_api_client(settings) as my:
            first = await read(my, user)
            user_id = first.json()["user_id"]
            assert await cached(redis, user_id) == b"1|" + first.content  # through the proxy

            proxy.cut()
            # Reads go to PostgreSQL; the token checks use the other Redis, still up.
            assert (await read(my, user)).content == first.content
            changed = await patch(my, user, {"nickname": "during the outage"}, '"1"')
            assert changed.headers["ETag"] == '"2"'
            during = await read(my, user)
            assert during.headers["ETag"] == '"2"'
            assert during.json()["nickname"] == "during the outage"
            await wait_out_the_pause(short_cache_pause)
            # Still down after the pause: each read finds out again, and answers from the database.
            assert (await read(my, user)).json()["nickname"] == "during the outage"
            second = await patch(my, user, {"language": "en"}, '"2"')
            assert second.headers["ETag"] == '"3"'
            assert (await read(my, user)).json()["language"] == "en"

            # The writes could not reach the cache: it still holds version 1, for at most its TTL.
            assert await cached(redis, user_id) == b"1|" + first.content
            assert 0 < await redis.ttl(profile_cache_key(user_id)) <= TTL_SECONDS

            proxy.open()
            # Right after: the cache is still paused, reads come from the database.
            back = await read(my, user)
            assert back.headers["ETag"] == '"3"'
            assert back.json()["nickname"] == "during the outage"


async def test_no_stale_read_once_the_cache_redis_is_back(
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    redis_url: str,
    user: dict[str, str],
    short_cache_pause: float,
) -> None:
    """A write during the outage cannot reach the cache; once Redis is back the write's version
    reaches it (within RESEND_SECONDS), so no instance reads the profile from before it."""
    host, port, db = redis_address(redis_url)
    with tcp_proxy(host, port) as proxy:
        settings = my_settings(pipeline_env, cache_redis_url=f"redis://127.0.0.1:{proxy.port}/{db}")
        async with my_api_client(settings) as my:
            first = await read(my, user)
            proxy.cut()
            changed = await patch(my, user, {"nickname": "during the outage"}, '"1"')
            assert changed.headers["ETag"] == '"2"'
            proxy.open()
            await wait_out_the_pause(short_cache_pause)

            for _ in range(3):
                after = await read(my, user)
                assert after.headers["ETag"] == '"2"', (
                    f"stale read: version {after.json()['version']} "
                    f"(nickname {after.json()['nickname']!r}) after version 2 was written; "
                    f"the cache holds {await cached(redis, first.json()['user_id'])!r}"
                )
                assert after.json()["nickname"] == "during the outage"
            # A 304 for the old ETag would keep the old profile on the phone too.
            revalidated = await my.get(PROFILE, headers=user | {"If-None-Match": '"1"'})
            assert revalidated.status_code == 200
            # Another instance, which never saw the outage, reads through the same cache.
            entry = await cached(redis, first.json()["user_id"])
            assert entry is not None
            assert entry.startswith(b"2|"), entry
            async with my_api_client(my_settings(pipeline_env)) as other:
                assert (await read(other, user)).json()["nickname"] == "during the outage"
