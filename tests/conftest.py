"""Fixtures every test can use: a migrated PostgreSQL database and a Redis database of this pytest
worker's own (real servers, real connections), and settings pointing at them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from auth_api.app import create_app as create_auth_app
from auth_api.settings import AuthApiSettings
from bunri import migrations
from bunri.db.models import Base
from tests.support.keys import rsa_pem
from tests.support.servers import serve_in_thread

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


@pytest.fixture(autouse=True)
def environment_left_as_found() -> Iterator[None]:
    """A test that changes this process's environment and leaves it changed (monkeypatch's
    changes are undone before this runs) changes every later test in its pytest worker, the
    test that then fails far from the cause: this fails the test that left it."""
    before = dict(os.environ)
    yield
    changed = {
        name: (before.get(name), os.environ.get(name))
        for name in before.keys() | os.environ.keys()
        if before.get(name) != os.environ.get(name) and name != "PYTEST_CURRENT_TEST"
    }
    assert not changed, f"the test left the environment changed (before, after): {changed}"


@pytest.fixture(scope="session")
def database_url() -> str:
    """A database of this pytest worker's own, created empty and migrated to head."""
    return migrated_database(f"bunri_test_{NAMESPACE}{WORKER}")


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


@pytest.fixture(scope="session")
def redis_url() -> str:
    # Database 0 is left to developers; each pytest worker gets its own from REDIS_FIRST_DB on.
    return f"{REDIS_SERVER}/{(REDIS_FIRST_DB + worker_number()) % 16}"


@pytest.fixture
async def db_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_database(db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The worker's database, emptied after the test."""
    yield db_engine
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with db_engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} CASCADE"))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """The worker's Redis database, emptied before the test."""
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


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


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    """A vhost of this pytest worker's own, created empty for the session."""
    with fresh_vhost("main") as url:
        yield url


PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="session")
def signing_key() -> str:
    return rsa_pem()


@pytest.fixture(scope="session")
def auth_url(database_url: str, redis_url: str, signing_key: str) -> Iterator[str]:
    """auth-api over real HTTP: scan-api fetches its JWKS, tests sign users up and in."""
    with serve_in_thread(
        create_auth_app(auth_settings(database_url, redis_url, signing_key))
    ) as url:
        yield url


def auth_settings(database_url: str, redis_url: str, signing_key: str) -> AuthApiSettings:
    """auth-api's settings for tests: cheap password hashing, no rate limits to speak of."""
    return AuthApiSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        signing_key=signing_key,
        argon2_time_cost=1,
        argon2_memory_cost_kib=256,
        argon2_parallelism=1,
        log_json=False,
        login_attempts_per_ip=100_000,
        signups_per_ip=100_000,
    )


_users = iter(range(1, 10**9))


async def new_user(auth_url: str) -> dict[str, str]:
    """A fresh user's bearer header."""
    email = f"scanner{next(_users)}.{time.time_ns()}@example.com"
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        response = await auth.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "n"}
        )
        assert response.status_code == 201, response.text
        tokens = await auth.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}
