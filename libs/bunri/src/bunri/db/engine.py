"""Engines and session factories, created in an application's lifespan (never at import time)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from bunri.settings import BunriSettings


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(settings: BunriSettings) -> AsyncEngine:
    url = settings.database_url
    options: dict[str, Any] = {"echo": settings.database_echo}
    if is_sqlite(url):
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", configure_sqlite)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=settings.database_pool_pre_ping,
        **options,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit, so an endpoint can answer from what it just wrote.
    return async_sessionmaker(engine, expire_on_commit=False)


def configure_sqlite(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
    """Standalone mode shares one SQLite file between the API and the worker processes: WAL lets
    readers and a writer proceed together, and a writer waits for the lock instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
