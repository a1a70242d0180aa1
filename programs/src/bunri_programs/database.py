"""One transaction on the configured database, for a command that runs and exits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from bunri.settings import BunriSettings

# SQLAlchemy is imported when a command uses the database: the others (the containers' health
# checks among them) need not load it.
if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


def in_transaction(action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `action` on a connection in a transaction, committed if it returns."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async def run() -> T:
        engine = create_async_engine(BunriSettings().database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                return await action(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())
