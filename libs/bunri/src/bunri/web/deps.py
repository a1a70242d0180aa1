"""Dependencies every route can name: `SessionDep`, `RedisDep`, `ResourcesDep`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.web.resources import Resources
from bunri.web.state import app_state

ResourcesDep = Annotated[Resources, Depends(app_state("resources"))]


async def database_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the endpoint returns and before the response is
    sent (so a client never sees success for a write that failed to commit); rolled back on error.
    Services only flush."""
    async with resources.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


SessionDep = Annotated[AsyncSession, Depends(database_session, scope="function")]


async def redis_client(resources: ResourcesDep) -> Redis:
    return resources.redis


RedisDep = Annotated[Redis, Depends(redis_client)]
