"""Delivery at accept time: a full queue pushes back with 503, an unreachable broker does not
lose the scan (outbox, committed with it) and the relay publishes it once the broker is back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import OutboxMessage, Scan
from tests.support.backends import fresh_vhost
from tests.support.pictures import photo
from tests.support.scans import count, proxied_broker, queued_messages, scan_api_on, submit


@pytest.fixture
def vhost() -> Iterator[str]:
    with fresh_vhost("delivery") as url:
        yield url


async def test_a_full_queue_is_a_503_with_retry_after_and_keeps_nothing(
    pipeline_env: dict[str, str],
    vhost: str,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
) -> None:
    async with scan_api_on(pipeline_env, vhost) as client:
        # Shrink the queue with a policy (the lower of policy and argument applies).
        name = vhost.rsplit("/", 1)[1]
        await asyncio.to_thread(
            subprocess.run,
            [
                "rabbitmqctl",
                "-q",
                "set_policy",
                "-p",
                name,
                "tiny",
                r"^scan\.image_upload$",
                json.dumps({"max-length": 2}),
                "--apply-to",
                "queues",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        await asyncio.sleep(0.5)
        for seed in (1, 2):
            assert (await submit(client, user, photo(seed=seed))).status_code == 202
        refused = await submit(client, user, photo(seed=3))
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "queue_full"
    assert int(refused.headers["retry-after"]) > 0
    assert await count(clean_database, Scan) == 2  # the refused scan was not recorded
    assert len(await queued_messages(vhost)) == 2


async def test_an_unreachable_broker_leaves_the_scan_in_the_outbox_until_it_returns(
    pipeline_env: dict[str, str],
    vhost: str,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
) -> None:
    with proxied_broker(vhost, open_now=False) as (proxy, url):
        async with scan_api_on(pipeline_env, url, outbox_relay_interval_seconds=0.2) as client:
            started = time.monotonic()
            accepted = await submit(client, user, photo())
            assert accepted.status_code == 202, accepted.text
            assert time.monotonic() - started < 2  # no waiting on a dead broker
            scan_id = accepted.json()["scan_id"]
            assert await count(clean_database, Scan) == 1
            assert await count(clean_database, OutboxMessage) == 1

            proxy.open()  # the broker is back
            await wait_for(lambda: count(clean_database, OutboxMessage), 0, seconds=30)

        messages = await queued_messages(vhost)
    assert [message.headers["id"] for message in messages] == [f"scan.store_image:{scan_id}"]


async def test_a_broker_lost_while_running_is_survived_the_same_way(
    pipeline_env: dict[str, str],
    vhost: str,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
) -> None:
    with proxied_broker(vhost) as (proxy, url):
        async with scan_api_on(
            pipeline_env,
            url,
            outbox_relay_interval_seconds=0.2,
            publish_confirm_timeout_seconds=1.0,
        ) as client:
            first = await submit(client, user, photo(seed=1))
            assert first.status_code == 202
            proxy.cut()
            lost = [await submit(client, user, photo(seed=seed)) for seed in (2, 3)]
            assert [response.status_code for response in lost] == [202, 202]
            assert await count(clean_database, OutboxMessage) == 2
            proxy.open()
            await wait_for(lambda: count(clean_database, OutboxMessage), 0, seconds=30)
        ids = sorted(message.headers["id"] for message in await queued_messages(vhost))
    expected = sorted(f"scan.store_image:{r.json()['scan_id']}" for r in [first, *lost])
    assert ids == expected  # each scan published once


async def test_the_outbox_outlives_scan_api_and_two_replicas_publish_each_scan_once(
    pipeline_env: dict[str, str],
    vhost: str,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
) -> None:
    with proxied_broker(vhost, open_now=False) as (proxy, url):
        async with scan_api_on(pipeline_env, url, outbox_relay_interval_seconds=0.2) as client:
            accepted = [await submit(client, user, photo(seed=seed)) for seed in range(1, 9)]
            assert {response.status_code for response in accepted} == {202}
            await asyncio.sleep(3)  # reconnects keep failing meanwhile
        # scan-api is gone, the broker still away: the outbox holds every accepted scan.
        assert await count(clean_database, OutboxMessage) == 8

        proxy.open()
        async with (
            scan_api_on(pipeline_env, url, outbox_relay_interval_seconds=0.05),
            scan_api_on(pipeline_env, url, outbox_relay_interval_seconds=0.05),
        ):
            await wait_for(lambda: count(clean_database, OutboxMessage), 0, seconds=30)
        ids = sorted(message.headers["id"] for message in await queued_messages(vhost))
    assert ids == sorted(f"scan.store_image:{r.json()['scan_id']}" for r in accepted)


async def wait_for(probe: Any, value: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (current := await probe()) != value:
        assert time.monotonic() < deadline, f"still {current}"
        await asyncio.sleep(0.2)
