"""The scan pipeline under test, all real: auth-api (serving JWKS) and scan-api in this process,
the storage worker (eventlet) and the AI worker (prefork) as worker processes started from their
entry points, against RabbitMQ (a vhost of this pytest worker's own), PostgreSQL, Redis and an
S3 server (moto's server mode) on loopback. The AI worker runs its default model, the one it
ships (trained on TrashNet by `bunri train`); the crash tests use a tiny CLIP built here."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from scan_api.app import create_app as create_scan_app
from scan_api.settings import ScanApiSettings
from tests.conftest import new_user
from tests.support.models import build_tiny_clip
from tests.support.processes import worker_process
from tests.support.servers import free_port, run_process

BIN = Path(sys.executable).parent
S3_KEYS = {"BUNRI_S3_ACCESS_KEY_ID": "test", "BUNRI_S3_SECRET_ACCESS_KEY": "test"}


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with run_process(command, env={}, ready_url=f"{url}/moto-api/", log_path=log):
        yield url


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str) -> str:
    bucket = "bunri-test-scans"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
    )
    return bucket


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def pipeline_env(
    database_url: str,
    redis_url: str,
    broker_url: str,
    s3_endpoint: str,
    s3_bucket: str,
    auth_url: str,
) -> dict[str, str]:
    """The settings every party of the pipeline runs with, as environment variables."""
    return {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
        "BUNRI_S3_BUCKET": s3_bucket,
        "BUNRI_S3_ENDPOINT_URL": s3_endpoint,
        "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
        **S3_KEYS,
    }


def node_files(folder: Path) -> dict[str, str]:
    """A worker node's own journal and heartbeat file."""
    return {
        "BUNRI_JOURNAL_PATH": str(folder / "journal.sqlite3"),
        "BUNRI_HEARTBEAT_PATH": str(folder / "heartbeat.json"),
    }


@pytest.fixture(scope="session")
def storage_worker(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    folder = tmp_path_factory.mktemp("storage-worker")
    log = folder / "worker.log"
    env = pipeline_env | node_files(folder) | {"BUNRI_STORAGE_WORKER_CONCURRENCY": "20"}
    with worker_process([str(BIN / "bunri-storage-worker")], env=env, log_path=log) as process:
        yield process


@pytest.fixture(scope="session")
def ai_worker(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    folder = tmp_path_factory.mktemp("ai-worker")
    log = folder / "worker.log"
    env = pipeline_env | node_files(folder) | {"BUNRI_AI_WORKER_CONCURRENCY": "2"}
    with worker_process([str(BIN / "bunri-ai-worker")], env=env, log_path=log) as process:
        yield process


def scan_settings(pipeline_env: dict[str, str], **overrides: Any) -> ScanApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in pipeline_env.items()
    }
    return ScanApiSettings(
        **(values | {"log_json": False, "sse_keepalive_seconds": 1.0} | overrides)
    )


@pytest.fixture
async def scan_app(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[FastAPI]:
    app = create_scan_app(scan_settings(pipeline_env))
    async with app.router.lifespan_context(app):
        await app.state.event_hub.wait_subscribed(5)
        yield app


@pytest.fixture
async def client(scan_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=scan_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def idle(
    pipeline_env: dict[str, str],
    idle_broker_url: str,
    clean_database: AsyncEngine,
    redis: Redis,
) -> AsyncIterator[httpx.AsyncClient]:
    """scan-api whose queue no worker reads: what it published stays there to be counted, and
    scans move only when a test moves them."""
    from tests.scans.helpers import idle_app, purge_queue, scan_api_client

    async with scan_api_client(idle_app(pipeline_env, idle_broker_url)) as client:
        await purge_queue(idle_broker_url)
        yield client


@pytest.fixture
async def pipeline(storage_worker: Any, ai_worker: Any) -> None:
    """Name this fixture to have both workers running."""


@pytest.fixture
async def user(auth_url: str) -> dict[str, str]:
    return await new_user(auth_url)


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


@pytest.fixture(scope="session")
def idle_broker_url() -> Iterator[str]:
    """A vhost no worker consumes: scans accepted through it stay `queued`, and its queue shows
    exactly what scan-api published."""
    from tests.conftest import fresh_vhost

    with fresh_vhost("idle") as url:
        yield url


# The crash tests' fixtures (their own killable workers), defined beside their helpers.
from tests.scans.crash import (  # noqa: E402, F401
    crash_client,
    crash_env,
    crash_vhost,
    versioned_bucket,
    workers,
)
