"""Accounts and sign-in sessions: sign-up, login, refresh-token rotation, logout.

A sign-in session is a family of refresh tokens; its id is the `sid` claim of every access token
it issues, so revoking the family in Redis refuses those access tokens everywhere at once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_api import repository
from auth_api.errors import (
    EmailTaken,
    InvalidCredentials,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
)
from auth_api.login_guard import LoginGuard
from auth_api.passwords import PasswordHasher, check_password_policy
from auth_api.schemas import TokenPair
from auth_api.settings import AuthApiSettings
from auth_api.tokens import AccessTokenIssuer, new_refresh_token, refresh_token_digest
from bunri.auth import AccessClaims, RevocationStore
from bunri.db.base import utcnow
from bunri.db.models import RefreshToken, User
from bunri.errors import RateLimited
from bunri.ids import uuid7
from bunri.ratelimit import FixedWindowLimiter


class AuthService:
    def __init__(
        self,
        settings: AuthApiSettings,
        access_tokens: AccessTokenIssuer,
        passwords: PasswordHasher,
        revocations: RevocationStore,
        limiters: LoginLimiters,
    ) -> None:
        self._settings = settings
        self._access_tokens = access_tokens
        self._passwords = passwords
        self._revocations = revocations
        self._limiters = limiters

    async def signup(
        self, session: AsyncSession, *, email: str, password: str, nickname: str, client_ip: str
    ) -> User:
        usage = await self._limiters.signup_per_ip.hit(client_ip)
        if usage.exceeded:
            raise RateLimited(usage.retry_after_seconds, "Too many sign-ups from this address.")
        check_password_policy(password, email=email, nickname=nickname)
        if await repository.email_in_use(session, email):
            raise EmailTaken()
        user = User(
            email=email,
            password_hash=await self._passwords.hash(password),
            nickname=nickname,
            social_accounts=[],
        )
        session.add(user)
        try:
            await session.flush()
        except IntegrityError as exc:  # a concurrent sign-up with the same e-mail won the race
            raise EmailTaken() from exc
        return user

    async def login(
        self, session: AsyncSession, *, email: str, password: str, client_ip: str
    ) -> TokenPair:
        guard = self._limiters.logins
        refusal = await guard.refusal(email, client_ip)
        if refusal is not None:
            raise RateLimited(refusal.retry_after_seconds, refusal.message)
        user = await repository.get_user_by_email(session, email)
        password_hash = user.password_hash if user is not None else None
        # Runs for unknown e-mails too (against a decoy hash): the answer takes the same time.
        if not await self._passwords.verify(password_hash, password) or user is None:
            await guard.failed(email, client_ip)
            raise InvalidCredentials()
        await guard.succeeded(email, client_ip)
        assert password_hash is not None
        if self._passwords.needs_rehash(password_hash):
            user.password_hash = await self._passwords.hash(password)
        return await self.start_session(session, user.id)

    async def start_session(self, session: AsyncSession, user_id: uuid.UUID) -> TokenPair:
        """A new sign-in session (password or social login) for the account; its access tokens
        carry the roles the account's row has now (none for an account being deleted)."""
        roles = await repository.current_roles(session, user_id)
        return await self._issue_pair(session, user_id, family_id=uuid7(), roles=roles or [])

    async def refresh(self, session: AsyncSession, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair. Spending one twice revokes its whole family;
        the caller must commit even though this raises `RefreshTokenReused`."""
        stored = await repository.lock_refresh_token(session, refresh_token_digest(refresh_token))
        now = utcnow()
        if stored is None or stored.revoked_at is not None:
            raise RefreshTokenInvalid()
        if stored.used_at is not None:
            await self._revoke_family(session, stored.family_id)
            raise RefreshTokenReused()
        if stored.expires_at <= now:
            raise RefreshTokenExpired()
        # A token minted by a refresh that raced the account's deletion outlives its revocation.
        # The roles are read again too: one taken away is gone from the next access token.
        roles = await repository.current_roles(session, stored.user_id)
        if roles is None:
            raise RefreshTokenInvalid()
        stored.used_at = now
        return await self._issue_pair(
            session, stored.user_id, family_id=stored.family_id, roles=roles
        )

    async def logout(
        self, session: AsyncSession, claims: AccessClaims, refresh_token: str | None
    ) -> None:
        remaining = int((claims.expires_at - utcnow()).total_seconds())
        await self._revocations.revoke_token(
            claims.token_id, remaining + self._settings.auth_leeway_seconds
        )
        await self._revoke_family(session, claims.session_id)
        if refresh_token is not None:
            stored = await repository.lock_refresh_token(
                session, refresh_token_digest(refresh_token)
            )
            if stored is not None and stored.user_id == claims.user_id:
                await self._revoke_family(session, stored.family_id)

    async def _revoke_family(self, session: AsyncSession, family_id: uuid.UUID) -> None:
        # Any access token of the family can live at most one TTL (plus the verifiers' leeway).
        await self._revocations.revoke_session(
            family_id, self._access_tokens.ttl_seconds + self._settings.auth_leeway_seconds
        )
        await repository.revoke_refresh_family(session, family_id, utcnow())

    async def _issue_pair(
        self,
        session: AsyncSession,
        user_id: uuid.UUID,
        family_id: uuid.UUID,
        roles: list[str],
    ) -> TokenPair:
        refresh_token, digest = new_refresh_token()
        refresh_ttl = self._settings.refresh_token_ttl_seconds
        session.add(
            RefreshToken(
                user_id=user_id,
                family_id=family_id,
                token_hash=digest,
                expires_at=utcnow() + timedelta(seconds=refresh_ttl),
            )
        )
        access = self._access_tokens.issue(user_id, session_id=family_id, roles=roles)
        return TokenPair(
            access_token=access.token,
            refresh_token=refresh_token,
            expires_in=self._access_tokens.ttl_seconds,
            refresh_expires_in=refresh_ttl,
        )


class LoginLimiters:
    def __init__(self, settings: AuthApiSettings, redis: Redis) -> None:
        self.logins = LoginGuard(
            redis,
            attempts_per_ip=settings.login_attempts_per_ip,
            failures_per_account_address=settings.login_failures_per_account_address,
            failures_per_account=settings.login_failures_per_account,
            window_seconds=settings.login_window_seconds,
            delay_max_seconds=settings.login_delay_max_seconds,
        )
        self.signup_per_ip = FixedWindowLimiter(
            redis,
            "signup-ip",
            limit=settings.signups_per_ip,
            window_seconds=settings.signup_window_seconds,
        )
