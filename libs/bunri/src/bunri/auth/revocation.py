"""Revoked access tokens and sign-in sessions, kept in Redis for as long as a token could live."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from redis.asyncio import Redis

from bunri.redis import KEY_PREFIX

_TOKEN = KEY_PREFIX + "revoked:jti:"
_SESSION = KEY_PREFIX + "revoked:sid:"


class RevocationStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def revoke_token(self, token_id: str, ttl_seconds: int) -> None:
        """Refuse one access token for the rest of its lifetime."""
        if ttl_seconds > 0:
            await self._redis.set(_TOKEN + token_id, b"1", ex=ttl_seconds)

    async def revoke_session(self, session_id: uuid.UUID, ttl_seconds: int) -> None:
        """Refuse every access token of a sign-in session (logout, refresh-token reuse)."""
        if ttl_seconds > 0:
            await self._redis.set(_SESSION + str(session_id), b"1", ex=ttl_seconds)

    async def revoke_sessions(self, session_ids: Iterable[uuid.UUID], ttl_seconds: int) -> None:
        """`revoke_session` for many at once, in one round trip (an account being deleted)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.set(_SESSION + str(session_id), b"1", ex=ttl_seconds)
            await pipe.execute()

    async def is_revoked(self, token_id: str, session_id: uuid.UUID) -> bool:
        # One round trip for both checks: EXISTS counts the keys that exist.
        count: int = await self._redis.exists(_TOKEN + token_id, _SESSION + str(session_id))
        return count > 0
