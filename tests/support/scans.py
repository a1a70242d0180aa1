"""Driving scan-api in tests: its settings from the pipeline's environment, a worker node's own
files, scan-api served in process, submitting a photo, and waiting for a scan to finish (in
process or over real HTTP); what the broker and the database hold meanwhile, and a broker link
a test can cut."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import OutboxMessage, Scan
from scan_api.app import create_app
from scan_api.settings import ScanApiSettings
from tests.support.tcp_proxy import TcpProxy, tcp_proxy


def node_files(folder: Path) -> dict[str, str]:
    """A worker node's own journal and heartbeat file."""
    return {
        "BUNRI_JOURNAL_PATH": str(folder / "journal.sqlite3"),
        "BUNRI_HEARTBEAT_PATH": str(folder / "heartbeat.json"),
    }


def scan_settings(pipeline_env: dict[str, str], **overrides: Any) -> ScanApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in pipeline_env.items()
    }
    return ScanApiSettings(
        **(values | {"log_json": False, "sse_keepalive_seconds": 1.0} | overrides)
    )


async def submit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    image: bytes,
    *,
    filename: str = "photo.jpg",
    note: str | None = None,
    **extra_headers: str,
) -> httpx.Response:
    data = {"note": note} if note is not None else None
    return await client.post(
        "/api/v1/scans",
        headers=headers | extra_headers,
        files={"image": (filename, image, "image/jpeg")},
        data=data,
    )


async def wait_until_done(
    client: httpx.AsyncClient, headers: dict[str, str], scan_id: str, seconds: float = 60
) -> dict[str, Any]:
    """Poll until the scan is terminal (the SSE tests follow events instead)."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/scans/{scan_id}", headers=headers)
        ).json()
        if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def wait_completed(
    base_url: str, headers: dict[str, str], scan_id: str, seconds: float = 90
) -> None:
    """The same over real HTTP to `base_url`, and the scan must have completed."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = (await client.get(f"/api/v1/scans/{scan_id}", headers=headers)).json()
            if body["status"] in ("completed", "failed"):
                assert body["status"] == "completed", body
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"scan {scan_id} did not finish in {seconds} s")


@asynccontextmanager
async def scan_api_on(
    pipeline_env: dict[str, str], broker_url: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(scan_settings(pipeline_env, broker_url=broker_url, **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def count(engine: AsyncEngine, model: type[Scan | OutboxMessage]) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


async def queued_messages(broker_url: str, queue: str = "scan.image_upload") -> list[Any]:
    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.get_queue(queue, ensure=False)
        messages = []
        while (message := await declared.get(no_ack=False, fail=False)) is not None:
            messages.append(message)
        for message in messages:
            await message.nack(requeue=True)
        return messages


@contextmanager
def proxied_broker(vhost: str, *, open_now: bool = True) -> Iterator[tuple[TcpProxy, str]]:
    """The vhost's broker behind a proxy the test can cut: (the proxy, the URL through it)."""
    with tcp_proxy("127.0.0.1", 5672, open_now=open_now) as proxy:
        yield proxy, f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost.rsplit('/', 1)[1]}"
