"""Idempotency-Key on POST /api/v1/scans (DESIGN.md section 3): the same key from the same user
within 24 h is the same scan, never a second one, checked in the database, in the queue and in
what the workers did."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import OutboxMessage, Scan
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from bunri.scans.events import stream_key
from scan_api.service import request_digest
from tests.scans.helpers import (
    assert_error,
    count_rows,
    queue_depth,
    queued_task_ids,
    s3_keys,
    scan_row,
)
from tests.support.pictures import photo
from tests.support.scans import submit, wait_until_done
from tests.support.users import new_user

KEY = "Idempotency-Key"


async def test_the_same_key_and_upload_is_the_same_scan_published_once(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    image = photo(seed=11)
    first = await submit(idle, user, image, note="병", **{KEY: "key-1"})
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers

    for _ in range(3):
        again = await submit(idle, user, image, note="병", **{KEY: "key-1"})
        assert again.status_code == 202, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]

    assert await count_rows(clean_database, Scan) == 1
    row = await scan_row(clean_database, first.json()["scan_id"])
    assert bytes(row["request_digest"]) == request_digest(image, "병")
    assert await queue_depth(idle_broker_url) == 1
    assert await count_rows(clean_database, OutboxMessage) == 0


async def test_the_same_key_with_another_upload_is_a_409(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    image = photo(seed=12)
    first = await submit(idle, user, image, note="병", **{KEY: "key-2"})
    assert first.status_code == 202

    for other_image, other_note in [
        (photo(seed=13), "병"),  # another photo
        (image, "캔"),  # another note
        (image, None),  # the note left out
        (image + b"\0", "병"),  # one byte more
    ]:
        conflict = await submit(idle, user, other_image, note=other_note, **{KEY: "key-2"})
        assert_error(conflict, 409, "idempotency_conflict")

    assert await count_rows(clean_database, Scan) == 1
    assert await queue_depth(idle_broker_url) == 1


async def test_keys_belong_to_their_user(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    auth_url: str,
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    other = await new_user(auth_url)
    image = photo(seed=14)
    mine = await submit(idle, user, image, **{KEY: "shared-key"})
    theirs = await submit(idle, other, image, **{KEY: "shared-key"})
    assert mine.status_code == theirs.status_code == 202
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["scan_id"] != theirs.json()["scan_id"]
    # And neither sees the other's scan through the key.
    assert (await idle.get(theirs.json()["status_url"], headers=user)).status_code == 404
    assert await count_rows(clean_database, Scan) == 2
    assert await queue_depth(idle_broker_url) == 2


async def test_concurrent_requests_with_one_key_make_one_scan(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    image = photo(seed=15)
    responses = await asyncio.gather(
        *(submit(idle, user, image, note="동시에", **{KEY: "race"}) for _ in range(10))
    )
    assert [response.status_code for response in responses] == [202] * 10, [
        response.text for response in responses
    ]
    assert len({response.json()["scan_id"] for response in responses}) == 1
    fresh = [r for r in responses if r.headers.get("idempotent-replayed") != "true"]
    assert len(fresh) == 1  # the one that made it
    assert await count_rows(clean_database, Scan) == 1
    await assert_the_winner_is_queued_once(idle_broker_url, clean_database, responses[0])


async def test_concurrent_different_uploads_with_one_key_make_one_scan_and_conflicts(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    images = [photo(seed=16), photo(seed=17)]
    responses = await asyncio.gather(
        *(submit(idle, user, images[i % 2], **{KEY: "race-2"}) for i in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [202] * 4 + [409] * 4, [r.text for r in responses]
    winners = {r.json()["scan_id"] for r in responses if r.status_code == 202}
    assert len(winners) == 1
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "idempotency_conflict")
    assert await count_rows(clean_database, Scan) == 1
    winner = next(r for r in responses if r.status_code == 202)
    await assert_the_winner_is_queued_once(idle_broker_url, clean_database, winner)


async def assert_the_winner_is_queued_once(
    broker_url: str, database: AsyncEngine, winner: httpx.Response
) -> None:
    """The winner's message is queued once. A loser publishes while its INSERT waits on the
    winner's (the two run at once), so its message may be queued too, naming a scan that never
    existed, which the storage worker drops (test_crash_safety proves it)."""
    scan_id = winner.json()["scan_id"]
    queued = await queued_task_ids(broker_url)
    assert queued.count(f"{STORE_SCAN_IMAGE}:{scan_id}") == 1, queued
    async with database.connect() as connection:
        existing = (await connection.execute(text("SELECT id::text FROM scans"))).scalars().all()
    assert existing == [scan_id]


@pytest.mark.parametrize(
    ("age", "replayed"),
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24, minutes=1), False)],
    ids=["within-24h", "past-24h"],
)
async def test_a_key_past_the_window_can_be_used_again(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
    age: timedelta,
    replayed: bool,
) -> None:
    image = photo(seed=18)
    first = await submit(idle, user, image, **{KEY: "old-key"})
    first_id = first.json()["scan_id"]
    async with clean_database.begin() as connection:
        await connection.execute(
            text(
                "UPDATE scans SET created_at = created_at - make_interval(secs => :s)"
                " WHERE id = :id"
            ),
            {"s": age.total_seconds(), "id": uuid.UUID(first_id)},
        )

    # Past the window even other content is welcome under the old key.
    again = await submit(idle, user, image if replayed else photo(seed=19), **{KEY: "old-key"})
    assert again.status_code == 202, again.text
    if replayed:
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["scan_id"] == first_id
        assert await count_rows(clean_database, Scan) == 1
        assert await queue_depth(idle_broker_url) == 1
        return
    assert "idempotent-replayed" not in again.headers
    second_id = again.json()["scan_id"]
    assert second_id != first_id
    assert await count_rows(clean_database, Scan) == 2
    assert await queue_depth(idle_broker_url) == 2
    # The old scan is still there, released from the key; the key now names the new scan.
    old = await scan_row(clean_database, first_id)
    assert old["idempotency_key"] is None
    assert (await scan_row(clean_database, second_id))["idempotency_key"] == "old-key"
    third = await submit(idle, user, photo(seed=19), **{KEY: "old-key"})
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json()["scan_id"] == second_id


@pytest.mark.usefixtures("pipeline")
async def test_a_replayed_upload_is_processed_once(
    client: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    pipeline_env: dict[str, str],
) -> None:
    """Through the real workers: one scan goes through each state once, its objects are stored
    once, and a replay after it finished answers the finished scan."""
    image = photo(seed=20)
    responses = [await submit(client, user, image, **{KEY: "once"}) for _ in range(3)]
    scan_id = responses[0].json()["scan_id"]
    assert {r.json()["scan_id"] for r in responses} == {scan_id}

    done = await wait_until_done(client, user, scan_id)
    assert done["status"] == "completed", done
    late = await submit(client, user, image, **{KEY: "once"})
    assert late.status_code == 202
    assert late.headers["idempotent-replayed"] == "true"
    assert late.json()["scan_id"] == scan_id
    assert late.json()["status"] == "completed"

    # Give a stray second message time to show itself, had there been one.
    await asyncio.sleep(1.0)
    assert await count_rows(clean_database, Scan) == 1
    row = await scan_row(clean_database, scan_id)
    assert (row["status"], row["version"]) == ("completed", 5)
    entries = await redis.xrange(stream_key(scan_id)) or []
    assert [entry_id for entry_id, _ in entries] == [b"2-0", b"3-0", b"4-0", b"5-0"]
    assert sorted(s3_keys(pipeline_env, f"scans/{scan_id}/")) == [
        f"scans/{scan_id}/original.jpg",
        f"scans/{scan_id}/thumbnail.jpg",
    ]
