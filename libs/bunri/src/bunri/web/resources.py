"""The connections a service holds for its lifetime, opened in its lifespan and closed with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bunri.auth import JwksKeySource, KeySource, RevocationStore, TokenVerifier
from bunri.db.engine import create_engine, create_sessionmaker
from bunri.redis import create_redis
from bunri.settings import BunriSettings
from bunri.web.health import ReadinessCheck


@dataclass(frozen=True)
class Resources:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    http: httpx.AsyncClient
    verifier: TokenVerifier

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        return {"postgresql": self._ping_database, "redis": self._ping_redis}

    async def _ping_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _ping_redis(self) -> None:
        await self.redis.ping()


KeySourceFactory = Callable[[BunriSettings, httpx.AsyncClient], KeySource]


def jwks_key_source(settings: BunriSettings, http: httpx.AsyncClient) -> KeySource:
    return JwksKeySource(
        settings.auth_jwks_url,
        http,
        max_age_seconds=settings.auth_jwks_cache_seconds,
        min_refresh_seconds=settings.auth_jwks_min_refresh_seconds,
    )


@asynccontextmanager
async def open_resources(
    settings: BunriSettings, key_source: KeySourceFactory = jwks_key_source
) -> AsyncIterator[Resources]:
    engine = create_engine(settings)
    redis = create_redis(settings)
    http = httpx.AsyncClient(headers={"user-agent": f"bunri/{settings.service_name}"})
    verifier = TokenVerifier(
        key_source(settings, http),
        RevocationStore(redis),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_seconds=settings.auth_leeway_seconds,
    )
    try:
        yield Resources(
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            http=http,
            verifier=verifier,
        )
    finally:
        await http.aclose()
        await redis.aclose()
        await engine.dispose()


@asynccontextmanager
async def open_cache_redis(settings: BunriSettings, resources: Resources) -> AsyncIterator[Redis]:
    """The caches' Redis (`cache_redis_url`): a Redis of its own in production, since a cache may
    evict and revocations must not be; the main one (`resources.redis`) when unset."""
    if settings.cache_redis_url is None:
        yield resources.redis
        return
    client = create_redis(settings.model_copy(update={"redis_url": settings.cache_redis_url}))
    try:
        yield client
    finally:
        await client.aclose()
