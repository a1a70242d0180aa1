"""The location domain under test: location-api in this process, verifying tokens that auth-api
(over HTTP) issued, against PostgreSQL with PostGIS and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.locations import location_api_client, location_settings
from tests.support.users import new_user


@pytest.fixture(scope="session")
def location_env(database_url: str, redis_url: str, auth_url: str) -> dict[str, str]:
    return {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
    }


@pytest.fixture
async def locations(
    location_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with location_api_client(location_settings(location_env)) as client:
        yield client


@pytest.fixture(scope="session")
async def person(auth_url: str) -> dict[str, str]:
    """A signed-up person's bearer header (the session's: the searches are the same for all)."""
    return await new_user(auth_url)
