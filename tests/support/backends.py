"""The servers the tests run against (PostgreSQL, Redis, RabbitMQ) and this pytest worker's own
share of them: databases made for it (migrated to head) and vhosts made for it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bunri import migrations

POSTGRES_SERVER = os.environ.get(
    "BUNRI_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432"
)
REDIS_SERVER = os.environ.get("BUNRI_TEST_REDIS", "redis://127.0.0.1:6379")
# Two test runs at once on one machine (two checkouts, say) each set their own namespace.
NAMESPACE = os.environ.get("BUNRI_TEST_NAMESPACE", "")
REDIS_FIRST_DB = int(os.environ.get("BUNRI_TEST_REDIS_FIRST_DB", "1"))


# pytest-xdist names its workers gw0, gw1, ...; a run without xdist is "gw0" too.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def worker_number() -> int:
    return int(WORKER.removeprefix("gw"))


def migrated_database(name: str) -> str:
    """The URL of database `name`, created empty (dropped first) and migrated to head."""
    url = f"{POSTGRES_SERVER}/{name}"

    async def create() -> None:
        server = create_async_engine(
            f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        async with server.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        await server.dispose()
        engine = create_async_engine(url, poolclass=NullPool)
        async with engine.begin() as connection:
            await migrations.upgrade(connection)
        await engine.dispose()

    asyncio.run(create())
    return url


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True, timeout=60)


@contextmanager
def fresh_vhost(name: str) -> Iterator[str]:
    """A RabbitMQ vhost created empty (and deleted after); yields its AMQP URL."""
    vhost = f"bunri_test_{NAMESPACE}{WORKER}_{name}"
    _rabbitmqctl("delete_vhost", vhost, check=False)
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost, check=False)
