"""The scan pipeline under test, all real: auth-api (serving JWKS) and scan-api in this process,
the storage worker (eventlet) and the AI worker (prefork) as worker processes started from their
entry points, against RabbitMQ (a vhost of this pytest worker's own), PostgreSQL, Redis and an
S3 server (moto's server mode; tests/conftest.py starts it) on loopback. The AI worker runs its
default model, the one it ships (trained on TrashNet by `bunri train`); the crash tests use a tiny
CLIP built by the tests."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from scan_api.app import create_app as create_scan_app

# The crash tests' fixtures (their own killable workers), defined beside their helpers.
from tests.scans.crash import (  # noqa: F401 (fixtures)
    crash_client,
    crash_env,
    crash_vhost,
    versioned_bucket,
    workers,
)
from tests.scans.helpers import idle_app, purge_queue, scan_api_client
from tests.support.backends import fresh_vhost
from tests.support.processes import BIN, worker_process
from tests.support.scans import node_files, scan_settings


@pytest.fixture(scope="session")
def ai_worker(
    pipeline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    folder = tmp_path_factory.mktemp("ai-worker")
    log = folder / "worker.log"
    env = pipeline_env | node_files(folder) | {"BUNRI_AI_WORKER_CONCURRENCY": "2"}
    with worker_process([str(BIN / "bunri-ai-worker")], env=env, log_path=log) as process:
        yield process


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
    async with scan_api_client(idle_app(pipeline_env, idle_broker_url)) as client:
        await purge_queue(idle_broker_url)
        yield client


@pytest.fixture
async def pipeline(storage_worker: Any, ai_worker: Any) -> None:
    """Name this fixture to have both workers running."""


@pytest.fixture(scope="session")
def idle_broker_url() -> Iterator[str]:
    """A vhost no worker consumes: scans accepted through it stay `queued`, and its queue shows
    exactly what scan-api published."""
    with fresh_vhost("idle") as url:
        yield url
