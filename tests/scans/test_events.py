"""GET /api/v1/scans/{id}/events (DESIGN.md section 3): one server-sent event per transition, in
order, resumable with Last-Event-ID (or ?resume_after=), each transition delivered once overall,
keepalive comments while waiting, and closed after the terminal event, even when Redis lost the
events. scan-api is served over real HTTP here: the in-process client buffers whole responses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import ScanStatus
from bunri.scans.events import stream_key
from scan_api.app import create_app
from scan_api.schemas import ScanEventFrame
from tests.scans.helpers import (
    Driver,
    SseReader,
    StreamRead,
    assert_error,
    idle_app,
    purge_queue,
    read_stream,
    serve_over_http,
)
from tests.support.pictures import photo
from tests.support.scans import scan_settings, submit
from tests.support.users import new_user

STATES = ["queued", "storing", "stored", "analyzing", "completed"]
PROGRESS = [0, 20, 40, 60, 100]


@pytest.fixture
async def live(
    pipeline: None, pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """scan-api over HTTP, with the workers running."""
    with serve_over_http(create_app(scan_settings(pipeline_env))) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


@pytest.fixture
async def idle(
    pipeline_env: dict[str, str],
    idle_broker_url: str,
    clean_database: AsyncEngine,
    redis: Redis,
) -> AsyncIterator[httpx.AsyncClient]:
    """scan-api over HTTP on a vhost no worker reads: scans move only when a test moves them."""
    with serve_over_http(idle_app(pipeline_env, idle_broker_url)) as url:
        await purge_queue(idle_broker_url)
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client


@pytest.fixture
def driver(pipeline_env: dict[str, str]) -> Iterator[Driver]:
    moving = Driver(pipeline_env)
    yield moving
    moving.close()


async def accepted(client: httpx.AsyncClient, user: dict[str, str], seed: int = 1) -> str:
    response = await submit(client, user, photo(320, 240, seed=seed))
    assert response.status_code == 202, response.text
    scan_id: str = response.json()["scan_id"]
    return scan_id


def assert_whole_story(read: StreamRead, scan_id: str) -> dict[str, Any]:
    """Every transition once, in order, and the stream closed by the server after the last."""
    assert read.status == 200
    assert read.closed_by_server
    assert read.names == STATES
    assert read.ids == [1, 2, 3, 4, 5]
    assert [event.data["progress"] for event in read.events] == PROGRESS
    for event in read.events[:-1]:
        assert event.data == {"status": event.event, "progress": event.data["progress"]}
    terminal: dict[str, Any] = read.events[-1].data
    assert terminal["status"] == "completed"
    assert terminal["scan"]["scan_id"] == scan_id
    return terminal


def same_instant(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


# --- A whole stream ----------------------------------------------------------------------------


async def test_a_stream_tells_every_transition_then_closes(
    live: httpx.AsyncClient, user: dict[str, str]
) -> None:
    scan_id = await accepted(live, user)
    read = await read_stream(live, scan_id, user)

    assert read.headers["content-type"].startswith("text/event-stream")
    assert read.headers["cache-control"] == "no-cache"
    assert read.reader.frames[0].kind == "retry"  # reconnection advice comes first
    terminal = assert_whole_story(read, scan_id)
    for event in read.events:  # what the OpenAPI promises, and nothing it does not name
        assert set(event.data) <= set(ScanEventFrame.model_fields)
        ScanEventFrame.model_validate(event.data)

    # The terminal event carries the whole scan: no second request needed.
    scan = (await live.get(f"/api/v1/scans/{scan_id}", headers=user)).json()
    carried = terminal["scan"]
    assert set(carried) == set(scan)
    for name in ("created_at", "completed_at"):
        assert same_instant(carried.pop(name), scan.pop(name))
    assert carried == scan
    assert scan["result"]["classification"]["middle"]


async def test_a_stream_opened_after_the_end_replays_the_story(
    live: httpx.AsyncClient, user: dict[str, str]
) -> None:
    scan_id = await accepted(live, user, seed=2)
    first = await read_stream(live, scan_id, user)
    again = await read_stream(live, scan_id, user)
    assert_whole_story(again, scan_id)
    assert [e.data for e in again.events] == [e.data for e in first.events]


async def test_two_listeners_both_hear_everything(
    live: httpx.AsyncClient, user: dict[str, str]
) -> None:
    scan_id = await accepted(live, user, seed=3)
    one, two = await asyncio.gather(
        read_stream(live, scan_id, user), read_stream(live, scan_id, user)
    )
    assert_whole_story(one, scan_id)
    assert_whole_story(two, scan_id)


# --- Leaving and coming back -------------------------------------------------------------------


@pytest.mark.parametrize("seen", [1, 2, 3, 4])
@pytest.mark.parametrize("how", ["header", "query"])
async def test_a_client_that_leaves_and_resumes_gets_each_transition_once(
    live: httpx.AsyncClient, user: dict[str, str], seen: int, how: str
) -> None:
    scan_id = await accepted(live, user, seed=10 + seen)
    before = await read_stream(live, scan_id, user, events=seen)
    assert not before.closed_by_server
    assert before.ids == list(range(1, seen + 1))

    last = before.ids[-1]
    assert last is not None
    resume: dict[str, Any] = {"last_event_id": last} if how == "header" else {"resume_after": last}
    after = await read_stream(live, scan_id, user, **resume)
    assert after.closed_by_server
    events = before.events + after.events
    assert [event.id for event in events] == [1, 2, 3, 4, 5]
    assert [event.event for event in events] == STATES
    assert events[-1].data["scan"]["status"] == "completed"


async def test_a_stream_resumed_mid_scan_merges_history_and_live_events(
    idle: httpx.AsyncClient, user: dict[str, str], driver: Driver
) -> None:
    """Held in each state by the test (the workers' own ledger moves it): what happened while the
    client was away comes from history, what happens while it listens comes live, each once."""
    scan_id = await accepted(idle, user)

    first = await read_stream(idle, scan_id, user, events=1)
    assert first.names == ["queued"]

    await driver.advance(scan_id, ScanStatus.STORING)
    await driver.advance(
        scan_id, ScanStatus.STORED, original_key="k/original.jpg", thumbnail_key="k/thumb.jpg"
    )
    second = await read_stream(idle, scan_id, user, last_event_id=1, events=2)
    assert (second.ids, second.names) == ([2, 3], ["storing", "stored"])

    await driver.advance(scan_id, ScanStatus.ANALYZING)
    reader = SseReader()
    listening = asyncio.create_task(read_stream(idle, scan_id, user, resume_after=3, reader=reader))
    await wait_for(lambda: len(reader.events) >= 1, "the analyzing event")
    await asyncio.sleep(0.3)  # listening live now, past its history
    await driver.advance(scan_id, ScanStatus.COMPLETED, result={"classification": {}})
    third = await listening
    assert third.closed_by_server
    assert (third.ids, third.names) == ([4, 5], ["analyzing", "completed"])
    assert third.events[-1].data["scan"]["status"] == "completed"

    everything = first.events + second.events + third.events
    assert [event.id for event in everything] == [1, 2, 3, 4, 5]


async def test_live_events_are_heard_as_they_happen(
    idle: httpx.AsyncClient, user: dict[str, str], driver: Driver
) -> None:
    scan_id = await accepted(idle, user)
    reader = SseReader()
    listening = asyncio.create_task(read_stream(idle, scan_id, user, reader=reader))
    await wait_for(lambda: len(reader.events) >= 1, "the queued event")
    for count, (state, extra) in enumerate(
        [
            (ScanStatus.STORING, {}),
            (ScanStatus.STORED, {"original_key": "o.jpg", "thumbnail_key": "t.jpg"}),
            (ScanStatus.ANALYZING, {}),
        ],
        start=2,
    ):
        await driver.advance(scan_id, state, **extra)
        await wait_for(lambda n=count: len(reader.events) >= n, f"the {state} event")
        assert reader.events[-1].event == state.value
    await driver.advance(scan_id, ScanStatus.COMPLETED, result={"classification": {}})
    assert_whole_story(await listening, scan_id)


async def test_a_failed_scan_ends_its_stream_with_the_error(
    idle: httpx.AsyncClient, user: dict[str, str], driver: Driver
) -> None:
    scan_id = await accepted(idle, user)
    await driver.advance(scan_id, ScanStatus.STORING)
    await driver.fail(scan_id, "image_corrupt", "The image could not be read.")
    read = await read_stream(idle, scan_id, user)
    assert read.closed_by_server
    assert (read.ids, read.names) == ([1, 2, 3], ["queued", "storing", "failed"])
    terminal = read.events[-1].data
    assert (terminal["status"], terminal["progress"]) == ("failed", 20)
    assert terminal["scan"]["error"] == {
        "code": "image_corrupt",
        "message": "The image could not be read.",
    }
    assert terminal["scan"]["result"] is None


@pytest.mark.parametrize(
    "resume",
    [{"last_event_id": 5}, {"resume_after": 5}, {"last_event_id": 99}, {"resume_after": 6}],
    ids=["header-5", "query-5", "header-99", "query-6"],
)
async def test_resuming_after_the_end_sends_nothing_and_closes(
    live: httpx.AsyncClient, user: dict[str, str], resume: dict[str, Any]
) -> None:
    scan_id = await accepted(live, user, seed=4)
    assert_whole_story(await read_stream(live, scan_id, user), scan_id)

    started = time.monotonic()
    read = await read_stream(live, scan_id, user, seconds=10, **resume)
    assert read.status == 200
    assert read.closed_by_server
    assert read.events == []
    assert read.reader.keepalives == 0
    assert time.monotonic() - started < 1.0  # at once, not after a keepalive round


async def test_an_id_from_the_future_resumes_from_where_the_scan_is(
    idle: httpx.AsyncClient, user: dict[str, str], driver: Driver
) -> None:
    """No event beyond the scan's current version exists: a larger Last-Event-ID (a client bug,
    or another scan's id) must not make the stream skip the transitions still to come."""
    scan_id = await accepted(idle, user)
    await driver.advance(scan_id, ScanStatus.STORING)
    reader = SseReader()
    listening = asyncio.create_task(
        read_stream(idle, scan_id, user, last_event_id=40, reader=reader)
    )
    await asyncio.sleep(0.3)
    await driver.advance(scan_id, ScanStatus.STORED, original_key="o", thumbnail_key="t")
    await driver.advance(scan_id, ScanStatus.ANALYZING)
    await driver.advance(scan_id, ScanStatus.COMPLETED, result={"classification": {}})
    read = await listening
    assert read.closed_by_server
    assert read.ids == [3, 4, 5]


# --- When Redis forgot -------------------------------------------------------------------------


async def test_a_finished_scan_whose_events_expired_still_ends_with_its_terminal_event(
    live: httpx.AsyncClient, user: dict[str, str], redis: Redis
) -> None:
    scan_id = await accepted(live, user, seed=5)
    assert_whole_story(await read_stream(live, scan_id, user), scan_id)
    assert await redis.delete(stream_key(scan_id)) == 1

    read = await read_stream(live, scan_id, user, seconds=10)
    assert read.closed_by_server
    assert (read.ids, read.names) == ([1, 5], ["queued", "completed"])
    assert read.events[-1].data["scan"]["result"]["classification"]

    resumed = await read_stream(live, scan_id, user, last_event_id=3, seconds=10)
    assert resumed.closed_by_server
    assert (resumed.ids, resumed.names) == ([5], ["completed"])

    done = await read_stream(live, scan_id, user, last_event_id=5, seconds=10)
    assert done.closed_by_server
    assert done.events == []


async def test_a_terminal_state_that_never_reached_redis_is_read_from_the_database(
    idle: httpx.AsyncClient, user: dict[str, str], clean_database: AsyncEngine
) -> None:
    """A worker killed between its commit and its event: the stream notices on its keepalive
    round and ends with the state the database holds."""
    scan_id = await accepted(idle, user)
    reader = SseReader()
    listening = asyncio.create_task(read_stream(idle, scan_id, user, reader=reader, seconds=15))
    await wait_for(lambda: len(reader.events) >= 1, "the queued event")
    async with clean_database.begin() as connection:
        await connection.execute(
            text(
                "UPDATE scans SET status = 'failed', version = 2,"
                " error_code = 'storage_unavailable', error_message = 'gone',"
                " completed_at = now() WHERE id = :id"
            ),
            {"id": uuid.UUID(scan_id)},
        )
    read = await listening
    assert read.closed_by_server
    assert (read.ids, read.names) == ([1, 2], ["queued", "failed"])
    assert read.events[-1].data["scan"]["error"]["code"] == "storage_unavailable"


# --- Waiting -----------------------------------------------------------------------------------


async def test_keepalive_comments_arrive_while_nothing_happens(
    idle: httpx.AsyncClient, user: dict[str, str]
) -> None:
    """The tests configure a keepalive every second (15 s by default)."""
    scan_id = await accepted(idle, user)
    started = time.monotonic()
    read = await read_stream(idle, scan_id, user, keepalives=3, seconds=10)
    elapsed = time.monotonic() - started
    assert not read.closed_by_server
    assert read.names == ["queued"]
    assert read.comments() == ["keepalive"] * 3
    assert 2.5 < elapsed < 6


# --- Refusals ----------------------------------------------------------------------------------


async def test_another_users_events_are_a_404(
    idle: httpx.AsyncClient, user: dict[str, str], auth_url: str
) -> None:
    scan_id = await accepted(idle, user)
    other = await new_user(auth_url)
    read = await read_stream(idle, scan_id, other, seconds=5)
    assert read.status == 404
    resumes: list[dict[str, Any]] = [{"last_event_id": 1}, {"resume_after": 1}]
    for resume in resumes:
        again = await read_stream(idle, scan_id, other, seconds=5, **resume)
        assert again.status == 404


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Last-Event-ID": "abc"}, None),
        ({"Last-Event-ID": "-1"}, None),
        ({}, {"resume_after": "x"}),
        ({}, {"resume_after": "-3"}),
    ],
)
async def test_a_malformed_resume_point_is_a_422(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    headers: dict[str, str],
    params: dict[str, str] | None,
) -> None:
    scan_id = await accepted(idle, user)
    response = await idle.get(
        f"/api/v1/scans/{scan_id}/events", headers=user | headers, params=params
    )
    assert_error(response, 422, "validation_error")


async def wait_for(condition: Any, what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {seconds} s"
        await asyncio.sleep(0.02)
