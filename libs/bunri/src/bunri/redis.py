"""Redis clients, created in a lifespan and closed with it."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from bunri.settings import BunriSettings

KEY_PREFIX = "bunri:"


def create_redis(settings: BunriSettings) -> Redis:
    # A blocking pool: with redis-py's default one, a burst of commands past its 100
    # connections fails at once ("Too many connections"); 500 chat clients reconnecting
    # together were refused as auth_unavailable while Redis itself was idle.
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_timeout_seconds,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        client_name=settings.service_name,
    )
    return Redis.from_pool(pool)
