"""What the scan tests share beyond conftest's fixtures: scan-api on a broker vhost no worker
consumes (scans stay `queued` there until a test moves them), scan-api over real HTTP (the
in-process ASGI client buffers whole responses, so an event stream could not be read while it is
open), a reader for server-sent events, and small probes of the database, S3 and the queues."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import boto3
import httpx
import redis
import uvicorn
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import Base, ScanStatus
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.settings import BunriSettings
from bunri.worker.ledger import ScanLedger
from scan_api.app import create_app
from tests.support.scans import scan_settings
from tests.support.servers import free_port

IMAGE_QUEUE = "scan.image_upload"
TERMINAL = ("completed", "failed")


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the error of DESIGN.md section 8 with this status and code."""
    assert response.status_code == status, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"].strip()
    return body


# --- scan-api, in process or over HTTP ---------------------------------------------------------


@asynccontextmanager
async def scan_api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """`app` with its lifespan run, behind an in-process client."""
    async with app.router.lifespan_context(app):
        await app.state.event_hub.wait_subscribed(5)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def idle_app(pipeline_env: dict[str, str], broker_url: str) -> FastAPI:
    """scan-api publishing to `broker_url`, a vhost no worker reads: accepted scans wait."""
    return create_app(scan_settings(pipeline_env, broker_url=broker_url))


@contextlib.contextmanager
def serve_over_http(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn on a loopback port in a thread of its own (its own event loop);
    yields the base URL. Streams still open at the end are cut after a second."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("scan-api did not start")
        time.sleep(0.01)
    # The hub subscribes in the background: an event published before it listens is only found
    # through the stream's history, which the tests cover on purpose, not by accident.
    hub = app.state.event_hub
    asyncio.run_coroutine_threadsafe(hub.wait_subscribed(5), _loop_of(server)).result(10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _loop_of(server: uvicorn.Server) -> asyncio.AbstractEventLoop:
    for task_server in server.servers:
        loop: asyncio.AbstractEventLoop = task_server.get_loop()
        return loop
    raise RuntimeError("uvicorn has no listening server")


# --- Server-sent events ------------------------------------------------------------------------


@dataclass
class Frame:
    """One dispatched block of an event stream: an event, a comment, or a `retry:` advice."""

    kind: str  # "event", "comment" or "retry"
    id: int | None = None
    event: str | None = None
    data: Any = None
    comment: str | None = None
    retry: int | None = None


@dataclass
class SseReader:
    """Parses `text/event-stream` lines as the HTML specification does (fields, blank-line
    dispatch, comments), strictly: an unknown field fails the test."""

    frames: list[Frame] = field(default_factory=list)
    _id: int | None = None
    _event: str | None = None
    _data: list[str] = field(default_factory=list)
    _retry: int | None = None

    def feed(self, line: str) -> Frame | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            frame = Frame("comment", comment=line[1:].strip())
            self.frames.append(frame)
            return frame
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = int(value)
        elif name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "retry":
            self._retry = int(value)
        else:
            raise AssertionError(f"unexpected line in the event stream: {line!r}")
        return None

    def _dispatch(self) -> Frame | None:
        if self._data:
            frame = Frame(
                "event", id=self._id, event=self._event, data=json.loads("\n".join(self._data))
            )
        elif self._retry is not None:
            frame = Frame("retry", retry=self._retry)
        else:
            assert self._id is None, "an event id without data"
            assert self._event is None, "an event name without data"
            return None
        self._id, self._event, self._data, self._retry = None, None, [], None
        self.frames.append(frame)
        return frame

    @property
    def events(self) -> list[Frame]:
        return [frame for frame in self.frames if frame.kind == "event"]

    @property
    def keepalives(self) -> int:
        return sum(frame.comment == "keepalive" for frame in self.frames)


@dataclass
class StreamRead:
    status: int
    headers: httpx.Headers
    reader: SseReader
    # Whether the server ended the stream (as opposed to the test leaving it).
    closed_by_server: bool

    @property
    def events(self) -> list[Frame]:
        return self.reader.events

    @property
    def ids(self) -> list[int | None]:
        return [event.id for event in self.events]

    @property
    def names(self) -> list[str | None]:
        return [event.event for event in self.events]

    def comments(self) -> list[str | None]:
        return [frame.comment for frame in self.reader.frames if frame.kind == "comment"]


async def read_stream(
    client: httpx.AsyncClient,
    scan_id: str,
    headers: dict[str, str],
    *,
    last_event_id: int | str | None = None,
    resume_after: int | None = None,
    events: int | None = None,
    keepalives: int | None = None,
    seconds: float = 30,
    reader: SseReader | None = None,
) -> StreamRead:
    """Open a scan's event stream and read it until the server closes it, or until `events`
    events (or `keepalives` keepalive comments) arrived, then leave. Fails past `seconds`.
    Pass `reader` to watch the frames arrive from another task."""
    request_headers = dict(headers)
    if last_event_id is not None:
        request_headers["Last-Event-ID"] = str(last_event_id)
    params = {"resume_after": resume_after} if resume_after is not None else None
    reader = reader if reader is not None else SseReader()
    closed_by_server = True
    try:
        async with (
            asyncio.timeout(seconds),
            client.stream(
                "GET", f"/api/v1/scans/{scan_id}/events", headers=request_headers, params=params
            ) as response,
        ):
            if response.status_code != 200:
                await response.aread()
                return StreamRead(response.status_code, response.headers, reader, True)
            async for line in response.aiter_lines():
                frame = reader.feed(line)
                if frame is None:
                    continue
                enough_events = events is not None and len(reader.events) >= events
                enough_keepalives = keepalives is not None and reader.keepalives >= keepalives
                if enough_events or enough_keepalives:
                    closed_by_server = False
                    break
    except TimeoutError:
        raise AssertionError(
            f"the event stream was still open after {seconds} s; it sent {reader.frames}"
        ) from None
    return StreamRead(response.status_code, response.headers, reader, closed_by_server)


# --- Probes ------------------------------------------------------------------------------------


async def count_rows(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as connection:
        result = await connection.execute(select(func.count()).select_from(model))
        return int(result.scalar_one())


async def scan_row(engine: AsyncEngine, scan_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    text("SELECT * FROM scans WHERE id = :id"), {"id": uuid.UUID(scan_id)}
                )
            )
            .mappings()
            .one()
        )
        return dict(row)


async def queue_depth(broker_url: str, queue: str = IMAGE_QUEUE) -> int:
    """Messages ready in `queue` (a passive declare: the queue is not changed)."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count


async def queued_task_ids(broker_url: str, queue: str = IMAGE_QUEUE) -> list[str]:
    """The ids of the tasks ready in `queue`, taken out of it."""
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        ids = []
        while (message := await declared.get(no_ack=True, fail=False)) is not None:
            ids.append(str(message.headers["id"]))
        return ids


async def purge_queue(broker_url: str, queue: str = IMAGE_QUEUE) -> None:
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
            await (await channel.declare_queue(queue, passive=True)).purge()


def s3_client(pipeline_env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=pipeline_env["BUNRI_S3_ENDPOINT_URL"],
        region_name="ap-northeast-2",
        aws_access_key_id=pipeline_env["BUNRI_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=pipeline_env["BUNRI_S3_SECRET_ACCESS_KEY"],
    )


def s3_keys(pipeline_env: dict[str, str], prefix: str = "") -> list[str]:
    s3 = s3_client(pipeline_env)
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=pipeline_env["BUNRI_S3_BUCKET"], Prefix=prefix
    ):
        keys.extend(item["Key"] for item in page.get("Contents", ()))
    return keys


def s3_object(pipeline_env: dict[str, str], key: str) -> bytes:
    s3 = s3_client(pipeline_env)
    body: bytes = s3.get_object(Bucket=pipeline_env["BUNRI_S3_BUCKET"], Key=key)["Body"].read()
    return body


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def wait_all_terminal(
    client: httpx.AsyncClient, headers: dict[str, str], scan_ids: list[str], seconds: float
) -> dict[str, dict[str, Any]]:
    """Each scan's body once all are terminal, or as they stand when `seconds` ran out."""
    deadline = time.monotonic() + seconds
    latest: dict[str, dict[str, Any]] = {}
    waiting = list(scan_ids)
    while waiting:
        for scan_id in list(waiting):
            response = await client.get(f"/api/v1/scans/{scan_id}", headers=headers)
            assert response.status_code == 200, response.text
            latest[scan_id] = response.json()
            if latest[scan_id]["status"] in TERMINAL:
                waiting.remove(scan_id)
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return latest


# --- Moving a scan along as a worker does ------------------------------------------------------


class Driver:
    """The workers' own ledger (compare-and-set in PostgreSQL, then the progress event in Redis),
    for tests that must hold a scan in a given state on a vhost no worker reads."""

    def __init__(self, pipeline_env: dict[str, str]) -> None:
        settings = BunriSettings(
            environment="test",
            database_url=pipeline_env["BUNRI_DATABASE_URL"],
            redis_url=pipeline_env["BUNRI_REDIS_URL"],
        )
        self._engine = create_sync_engine(settings, pool_size=1)
        self._redis = redis.Redis.from_url(settings.redis_url)
        self.ledger = ScanLedger(create_sync_sessionmaker(self._engine), self._redis)

    def close(self) -> None:
        self._engine.dispose()
        self._redis.close()

    async def advance(self, scan_id: str, to: ScanStatus, **values: Any) -> None:
        def move() -> None:
            scan = self.ledger.get(uuid.UUID(scan_id))
            assert scan is not None
            assert self.ledger.advance(scan, to, **values) is not None

        await asyncio.to_thread(move)

    async def fail(self, scan_id: str, code: str, message: str) -> None:
        def fail() -> None:
            assert self.ledger.fail_by_id(uuid.UUID(scan_id), code, message) is not None

        await asyncio.to_thread(fail)


def classified(
    major: str, middle: str, minor: str | None, confidence: float, *, unsure: bool = False
) -> dict[str, Any]:
    """A scan result as the AI worker writes it, for the class given."""
    return {
        "classification": {
            "major": major,
            "middle": middle,
            "minor": minor,
            "confidence": confidence,
            "unsure": unsure,
            "alternatives": [],
        },
        "guide": {"title": "…", "steps": [], "cautions": [], "not_accepted": []},
        "model": {"backend": "local", "name": "test"},
    }


async def complete_as_workers_do(
    driver: Driver,
    pipeline_env: dict[str, str],
    scan_id: str,
    original: bytes,
    result: dict[str, Any],
) -> str:
    """Store `original` in S3 under the scan's key and walk the scan to `completed` with
    `result`, as the storage and AI workers would; the original's key."""
    key = f"scans/{scan_id}/original.jpg"
    s3_client(pipeline_env).put_object(
        Bucket=pipeline_env["BUNRI_S3_BUCKET"], Key=key, Body=original, ContentType="image/jpeg"
    )
    await driver.advance(scan_id, ScanStatus.STORING)
    await driver.advance(
        scan_id,
        ScanStatus.STORED,
        original_key=key,
        thumbnail_key=f"scans/{scan_id}/thumbnail.jpg",
    )
    await driver.advance(scan_id, ScanStatus.ANALYZING)
    await driver.advance(scan_id, ScanStatus.COMPLETED, result=result)
    return key
