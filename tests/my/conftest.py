"""my-api under test, all real: auth-api (JWKS, sign-up, login) over HTTP, my-api in this process
(or over real HTTP for the concurrency tests), the storage worker as a worker process for the
photo and the erasure, against PostgreSQL, Redis, RabbitMQ and the S3 server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bunri import migrations
from my_api.app import create_app

# The crash tests' fixtures: workers a test may SIGKILL, on a vhost and a versioned bucket of their
# own (tests/scans/crash.py).
from tests.scans.crash import (  # noqa: F401 (fixtures)
    crash_env,
    crash_vhost,
    versioned_bucket,
    workers,
)
from tests.support.my import my_api_client, my_settings
from tests.support.servers import serve_in_thread


@pytest.fixture
async def my(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with my_api_client(my_settings(pipeline_env)) as client:
        yield client


@pytest.fixture
def my_url(
    pipeline_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> Iterator[str]:
    """my-api over real HTTP (uvicorn in a thread): requests from several clients at once."""
    with serve_in_thread(create_app(my_settings(pipeline_env))) as url:
        yield url


@pytest.fixture(params=["postgresql", "sqlite"])
async def engine(
    request: pytest.FixtureRequest, clean_database: AsyncEngine, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """The database, twice: PostgreSQL, and the SQLite `bunri standalone` falls back to."""
    if request.param == "postgresql":
        yield clean_database
        return
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'bunri.db'}")
    async with engine.begin() as connection:
        await migrations.upgrade(connection)
    yield engine
    await engine.dispose()
