"""Leaving: a person deletes their account after proving it is them again.

The request does what must hold at once, in one transaction: the account can no longer sign in
(its e-mail is released, its social links and refresh tokens go) and every access token it holds
is refused (each sign-in session revoked in Redis, before the commit: if Redis cannot take it,
nothing changed). The erasure of everything the person owns (rows, S3 objects, Redis keys,
journal records) is a journaled task on the storage worker, published in the same transaction
or kept in the outbox.
"""

from __future__ import annotations

import time
import unicodedata
import uuid

import argon2
from anyio import to_thread
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.auth import AccessClaims, RevocationStore
from bunri.db.base import utcnow
from bunri.db.models import RefreshToken, SocialAccount, User
from bunri.errors import RateLimited
from bunri.ids import uuid7, uuid7_time
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable
from bunri.messaging.outbox import keep_in_outbox
from bunri.messaging.protocol import TaskCall
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import ERASE_ACCOUNT
from bunri.ratelimit import FixedWindowLimiter
from my_api.errors import (
    AccountBeingDeleted,
    PasswordRequired,
    ReauthenticationFailed,
    RecentSignInRequired,
)
from my_api.settings import MyApiSettings

log = get_logger(__name__)

_VERIFIER = argon2.PasswordHasher()


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        # NFKC, as auth-api hashes it.
        return _VERIFIER.verify(password_hash, unicodedata.normalize("NFKC", password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


class AccountService:
    def __init__(
        self,
        settings: MyApiSettings,
        engine: AsyncEngine,
        publisher: Publisher,
        revocations: RevocationStore,
        attempts: FixedWindowLimiter,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._publisher = publisher
        self._revocations = revocations
        self._attempts = attempts

    async def delete(self, claims: AccessClaims, password: str | None) -> uuid.UUID:
        """Start the account's deletion; the erasure's id (the audit log's reference to it)."""
        user_id = claims.user_id
        async with self._engine.connect() as connection:
            user = (
                await connection.execute(
                    select(User.password_hash, User.deleted_at).where(User.id == user_id)
                )
            ).first()
            if user is None or user.deleted_at is not None:
                raise AccountBeingDeleted()
            await self._reauthenticate(claims, user.password_hash, password)
            now = utcnow()
            claimed = await connection.execute(
                update(User)
                .where(User.id == user_id, User.deleted_at.is_(None))
                .values(deleted_at=now, email=None, password_hash=None, updated_at=now)
            )
            if not claimed.rowcount:
                raise AccountBeingDeleted()
            await connection.execute(delete(SocialAccount).where(SocialAccount.user_id == user_id))
            sessions = set(
                (
                    await connection.execute(
                        select(RefreshToken.family_id).where(
                            RefreshToken.user_id == user_id, RefreshToken.expires_at > now
                        )
                    )
                ).scalars()
            )
            sessions.add(claims.session_id)
            await connection.execute(
                update(RefreshToken)
                .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            erasure_id = uuid7()
            call = TaskCall(ERASE_ACCOUNT, user_id, {"erasure_id": str(erasure_id)})
            message = call.message()
            try:
                await self._publisher.publish(message)
            except BrokerUnavailable as exc:
                log.warning("broker unavailable; erasure kept in the outbox", error=repr(exc))
                await keep_in_outbox(connection, message)
            # Revoked before the commit: if Redis refuses, the request fails and nothing changed
            # (the erasure just published finds the account still there and stops).
            await self._revocations.revoke_sessions(
                sessions, self._settings.session_revocation_seconds
            )
            await connection.commit()
        log.info("account deletion requested", erasure_id=str(erasure_id))
        return erasure_id

    async def _reauthenticate(
        self, claims: AccessClaims, password_hash: str | None, password: str | None
    ) -> None:
        if password_hash is None:
            signed_in = uuid7_time(claims.session_id)
            if signed_in is None or time.time() - signed_in > self._settings.recent_sign_in_seconds:
                raise RecentSignInRequired()
            return
        if not password:
            raise PasswordRequired()
        usage = await self._attempts.hit(str(claims.user_id))
        if usage.exceeded:
            raise RateLimited(usage.retry_after_seconds, "Too many wrong passwords; try later.")
        if not await to_thread.run_sync(_password_matches, password_hash, password):
            raise ReauthenticationFailed()
