"""A person's share (issue: one heavy user must not starve the rest): a token bucket on uploads
and on queued questions (429 with Retry-After), a cap on scans in flight, and the priority that
puts everyone else's scans ahead of a flood, on real Redis, PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.messaging.topology import LOW_PRIORITY
from bunri.ratelimit import TokenBucket
from chat_api.app import create_app as create_chat_app
from chat_api.settings import ChatApiSettings
from scan_api.app import create_app
from tests.scans.helpers import purge_queue, scan_api_client
from tests.support.character import error_code
from tests.support.pictures import photo
from tests.support.scans import queued_messages, scan_settings, submit
from tests.support.users import new_user

EVERYDAY, BUSY = 5, 1


async def test_a_bucket_lets_a_burst_through_then_refills(redis: Redis) -> None:
    bucket = TokenBucket(redis, "test", capacity=3, per_second=2)
    takes = [await bucket.take("someone") for _ in range(4)]
    assert [take.allowed for take in takes] == [True, True, True, False]
    assert takes[3].retry_after_seconds == 1
    assert [take.busy for take in takes[:3]] == [False, True, True]
    assert (await bucket.take("someone else")).allowed  # each person their own bucket
    await asyncio.sleep(0.6)  # a token back at 2 a second
    assert (await bucket.take("someone")).allowed
    assert not (await bucket.take("someone")).allowed


@pytest.fixture
async def limited(
    pipeline_env: dict[str, str],
    idle_broker_url: str,
    clean_database: AsyncEngine,
    redis: Redis,
) -> AsyncIterator[httpx.AsyncClient]:
    """scan-api with small per-person limits, publishing where no worker reads."""
    settings = scan_settings(
        pipeline_env,
        broker_url=idle_broker_url,
        scan_burst=5,
        scans_per_minute=6,
        scans_in_flight_per_user=3,
        scan_priority=EVERYDAY,
        busy_scan_priority=BUSY,
    )
    async with scan_api_client(create_app(settings)) as client:
        await purge_queue(idle_broker_url)
        yield client


async def complete_all(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE scans SET status = 'completed'"))


async def test_a_burst_past_the_bucket_is_429_with_retry_after(
    limited: httpx.AsyncClient, auth_url: str, clean_database: AsyncEngine
) -> None:
    heavy, light = await new_user(auth_url), await new_user(auth_url)
    for seed in range(5):
        assert (await submit(limited, heavy, photo(seed=seed))).status_code == 202
        await complete_all(clean_database)  # the in-flight cap is not what this tests
    refused = await submit(limited, heavy, photo(seed=9))
    assert error_code(refused, 429) == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10  # a token every 10 s
    assert (await submit(limited, light, photo(seed=1))).status_code == 202


async def test_scans_in_flight_are_capped_per_person(
    limited: httpx.AsyncClient, auth_url: str, clean_database: AsyncEngine
) -> None:
    person = await new_user(auth_url)
    for seed in range(3):
        assert (await submit(limited, person, photo(seed=seed))).status_code == 202
    refused = await submit(limited, person, photo(seed=3))
    assert error_code(refused, 429) == "too_many_scans_in_flight"
    assert refused.headers["Retry-After"] == "5"
    async with clean_database.begin() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM scans"))
    assert count == 3  # the refused one left nothing behind
    await complete_all(clean_database)
    assert (await submit(limited, person, photo(seed=4))).status_code == 202


async def test_a_flood_goes_behind_everyone_elses_scans(
    limited: httpx.AsyncClient,
    auth_url: str,
    idle_broker_url: str,
    clean_database: AsyncEngine,
) -> None:
    """Past half their burst a person's scans are published at the busy priority; the queue is a
    priority queue, so a scan sent later by someone else is taken first."""
    heavy, light = await new_user(auth_url), await new_user(auth_url)
    for seed in range(3):
        assert (await submit(limited, heavy, photo(seed=seed))).status_code == 202
    light_scan = await submit(limited, light, photo(seed=7))
    assert light_scan.status_code == 202

    messages = await queued_messages(idle_broker_url)

    # Taken highest priority first, in order within a priority: the heavy user's first two
    # (everyday), the light user's, and only then the heavy user's third, sent once half their
    # burst was gone.
    assert [message.priority for message in messages] == [EVERYDAY, EVERYDAY, EVERYDAY, BUSY]
    assert light_scan.json()["scan_id"] in messages[2].headers["id"]


async def test_queued_questions_have_a_bucket_and_a_busy_priority(
    chat_batch_client: httpx.AsyncClient, auth_url: str, idle_broker_url: str
) -> None:
    person = await new_user(auth_url)
    sent = [
        await chat_batch_client.post(
            "/api/v1/chat/batch", json={"text": "건전지는 어디에 버려요?"}, headers=person
        )
        for _ in range(3)
    ]
    assert [answer.status_code for answer in sent] == [202, 202, 202]
    refused = await chat_batch_client.post(
        "/api/v1/chat/batch", json={"text": "또 물어봐요"}, headers=person
    )
    assert error_code(refused, 429) == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    priorities = [m.priority for m in await queued_messages(idle_broker_url, "chat.batch")]
    assert sorted(priorities, reverse=True) == [LOW_PRIORITY, 0, 0]


@pytest.fixture
async def chat_batch_client(
    pipeline_env: dict[str, str],
    idle_broker_url: str,
    clean_database: AsyncEngine,
    redis: Redis,
) -> AsyncIterator[httpx.AsyncClient]:
    """chat-api with a small bucket for queued questions, publishing where no worker reads."""
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in pipeline_env.items()
    }
    overrides: dict[str, Any] = {
        "broker_url": idle_broker_url,
        "log_json": False,
        "chat_batch_burst": 3,
        "chat_batch_per_minute": 1,
    }
    settings = ChatApiSettings(**(values | overrides))
    app = create_chat_app(settings)
    async with app.router.lifespan_context(app):
        await purge_queue(idle_broker_url, "chat.batch")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
