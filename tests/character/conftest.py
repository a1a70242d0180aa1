"""The character domain under test, all real: auth-api (JWKS, sign-up, login) over HTTP,
character-api in this process (or over real HTTP for requests at once), the character worker as a
worker process (one for the session, which a test may SIGKILL: it is restarted) on a vhost of the
character tests' own, the outbox relay, against PostgreSQL, Redis and RabbitMQ."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.worker.ledger import ScanLedger
from character_api.app import create_app
from tests.scans.crash import Supervised
from tests.support.backends import fresh_vhost
from tests.support.character import character_api_client, character_settings, character_worker
from tests.support.ledger import ledger_on
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="session")
def character_vhost() -> Iterator[str]:
    """A vhost of the character tests' own (for this pytest worker's session): the events and
    chunks they relay reach only their worker."""
    with fresh_vhost("character") as url:
        yield url


@pytest.fixture(scope="session")
def character_env(
    database_url: str, redis_url: str, character_vhost: str, auth_url: str
) -> dict[str, str]:
    """What every party of the character domain runs with, as environment variables."""
    return {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": character_vhost,
        "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
    }


@pytest.fixture
def ledger(
    database_url: str, redis_url: str, clean_database: AsyncEngine, redis: Redis
) -> ScanLedger:
    """Sessions on the test database and a client of the test's Redis (emptied first), as the
    character worker has them."""
    return ledger_on(database_url, redis_url)


@pytest.fixture
async def character(
    character_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with character_api_client(character_settings(character_env)) as client:
        yield client


@pytest.fixture
def character_url(
    character_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> Iterator[str]:
    """character-api over real HTTP (uvicorn in a thread): requests from several clients at
    once."""
    with serve_in_thread(create_app(character_settings(character_env))) as url:
        yield url


@pytest.fixture(scope="session")
def worker(
    character_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Supervised]:
    """The character worker (two pool children) on the character vhost, for the session (a
    start costs seconds): restarted whenever a test kills it. Every test's events and campaigns
    are its own (new ids, new names), so that its journal never mistakes one for another's."""
    with character_worker(character_env, tmp_path_factory.mktemp("character-worker")) as started:
        yield started
