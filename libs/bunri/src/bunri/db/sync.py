"""Synchronous engines for the Celery workers (whose pools are threads, green threads or forks,
not an asyncio loop). Same database URL as the services, with the driver swapped."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bunri.db.engine import configure_sqlite
from bunri.settings import BunriSettings

_SYNC_DRIVERS = {"postgresql": "postgresql+psycopg", "sqlite": "sqlite+pysqlite"}


def sync_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername=_SYNC_DRIVERS[parsed.get_backend_name()]).render_as_string(
        hide_password=False
    )


def create_sync_engine(
    settings: BunriSettings, *, pool_size: int = 5, poolclass: Any = None
) -> Engine:
    url = sync_url(settings.database_url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=poolclass)
        event.listen(engine, "connect", configure_sqlite)
        return engine
    if poolclass is not None:
        return create_engine(url, poolclass=poolclass, connect_args={"connect_timeout": 5})
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 5},
    )


def create_sync_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
