"""Redis clients, created in a lifespan and closed with it."""

from __future__ import annotations

from redis.asyncio import Redis

from bunri.settings import BunriSettings

KEY_PREFIX = "bunri:"


def create_redis(settings: BunriSettings) -> Redis:
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        client_name=settings.service_name,
    )
