"""Queries auth-api runs; no commits here (the request boundary commits)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bunri.auth.claims import MAX_ROLE_LENGTH
from bunri.db.models import RefreshToken, SocialAccount, User


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_with_social_accounts(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.scalar(
        select(User).where(User.id == user_id).options(selectinload(User.social_accounts))
    )


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def email_in_use(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email)) is not None


async def lock_refresh_token(session: AsyncSession, digest: bytes) -> RefreshToken | None:
    """The token row, locked, so two refreshes of one token cannot both succeed."""
    return await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == digest).with_for_update()
    )


async def current_roles(session: AsyncSession, user_id: uuid.UUID) -> list[str] | None:
    """The account's roles as its row has them now (read afresh, not from the session's
    identity map); None when the account is gone or asked to be deleted (it is being erased)."""
    row = (
        await session.execute(select(User.roles, User.deleted_at).where(User.id == user_id))
    ).one_or_none()
    if row is None or row.deleted_at is not None:
        return None
    # A JSON array (given by `bunri users`); anything in it that is not a role name a token can
    # carry counts for nothing.
    stored = row.roles if isinstance(row.roles, list) else []
    return sorted(
        {role for role in stored if isinstance(role, str) and 0 < len(role) <= MAX_ROLE_LENGTH}
    )


async def revoke_refresh_family(session: AsyncSession, family_id: uuid.UUID, at: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def get_social_account(
    session: AsyncSession, provider: str, provider_user_id: str
) -> SocialAccount | None:
    return await session.scalar(
        select(SocialAccount).where(
            SocialAccount.provider == provider,
            SocialAccount.provider_user_id == provider_user_id,
        )
    )


async def get_users_social_account(
    session: AsyncSession, user_id: uuid.UUID, provider: str
) -> SocialAccount | None:
    return await session.scalar(
        select(SocialAccount).where(
            SocialAccount.user_id == user_id, SocialAccount.provider == provider
        )
    )
