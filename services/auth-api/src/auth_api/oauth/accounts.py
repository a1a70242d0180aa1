"""Which user a provider identity signs in as: linked by (provider, provider_user_id), never by
e-mail alone (an e-mail match is not proof of owning the Bunri account)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_api import repository
from auth_api.errors import OAuthStateInvalid, ProviderAlreadyLinked, SocialAccountInUse
from auth_api.oauth.identities import ProviderIdentity
from bunri.db.models import SocialAccount, User


async def sign_in_user(session: AsyncSession, provider: str, identity: ProviderIdentity) -> User:
    """The user linked to this identity, or a new user for a first sign-in."""
    # A concurrent first sign-in may commit this identity, or another user this e-mail address,
    # between our checks and our insert: then look again (the winner's rows are visible now).
    for _ in range(3):
        linked = await repository.get_social_account(session, provider, identity.provider_user_id)
        if linked is not None:
            user = await repository.get_user(session, linked.user_id)
            assert user is not None  # the foreign key cascades deletes
            return user
        # Only an address the provider verified, and only if no account holds it yet (its owner,
        # if it is the same person, links the provider while signed in).
        email = identity.email.lower() if identity.email and identity.email_verified else None
        if email is not None and await repository.email_in_use(session, email):
            email = None
        nickname = (identity.nickname or f"{provider} user").strip()[:50] or f"{provider} user"
        user = User(email=email, password_hash=None, nickname=nickname, social_accounts=[])
        try:
            async with session.begin_nested():  # a lost race rolls back only this
                session.add(user)
                session.add(_social_account(user, provider, identity))
                await session.flush()
        except IntegrityError:
            continue
        return user
    raise SocialAccountInUse()


async def link_identity(
    session: AsyncSession, user_id: uuid.UUID, provider: str, identity: ProviderIdentity
) -> User:
    """Link a provider identity to a signed-in user."""
    user = await repository.get_user(session, user_id)
    if user is None:
        raise OAuthStateInvalid("The account this link was started from no longer exists.")
    linked = await repository.get_social_account(session, provider, identity.provider_user_id)
    if linked is not None:
        if linked.user_id == user_id:
            return user
        raise SocialAccountInUse()
    if await repository.get_users_social_account(session, user_id, provider) is not None:
        raise ProviderAlreadyLinked()
    await _add_link(session, user, provider, identity)
    return user


async def _add_link(
    session: AsyncSession, user: User, provider: str, identity: ProviderIdentity
) -> None:
    session.add(_social_account(user, provider, identity))
    try:
        await session.flush()
    except IntegrityError as exc:  # the same identity was linked concurrently
        raise SocialAccountInUse() from exc


def _social_account(user: User, provider: str, identity: ProviderIdentity) -> SocialAccount:
    return SocialAccount(
        user=user,
        provider=provider,
        provider_user_id=identity.provider_user_id,
        email=identity.email,
    )
