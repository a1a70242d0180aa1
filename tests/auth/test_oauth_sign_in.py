"""Signing in with Kakao, Google or Naver: a first sign-in creates a user and later ones find it,
which e-mail the account keeps (only a verified one, never one that is taken), the token pair it
gets, and first sign-ins at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import SocialAccount, User
from tests.auth.oauth_flows import (
    ME,
    PROVIDERS,
    VERIFYING_PROVIDERS,
    app_sign_in,
    assert_token_pair,
    count_rows,
    expected_email,
    linked,
    provider_user,
    provider_user_ids,
    read_me,
    social_sign_in,
    start,
    visit_provider,
)
from tests.support.auth import assert_error
from tests.support.fake_oauth import FakeProvider, ProviderUser
from tests.support.users import PASSWORD, bearer, log_in, sign_up

pytestmark = pytest.mark.usefixtures("no_server_errors")


# Signing in.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_first_sign_in_creates_a_user_and_the_next_one_finds_it(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    provider: str,
) -> None:
    fake = fakes[provider]
    address = f"{provider}.person@example.com"
    identity = provider_user(address, f"{provider} 사용자")

    first = await social_sign_in(client, fake, identity)

    assert_token_pair(first)
    me = await read_me(client, first)
    # The provider's address becomes the account's only when the provider says it is verified,
    # which Naver never does; the linked provider entry shows it either way.
    assert me["email"] == expected_email(provider, address)
    assert me["nickname"] == f"{provider} 사용자"
    assert me["has_password"] is False
    assert await linked(client, first) == [(provider, address)]

    again = await social_sign_in(client, fake, identity)

    assert again["access_token"] != first["access_token"]
    assert (await read_me(client, again))["id"] == me["id"]
    assert await count_rows(db_engine, User) == 1
    assert await count_rows(db_engine, SocialAccount) == 1


@pytest.mark.parametrize("provider", VERIFYING_PROVIDERS)
async def test_an_unverified_email_is_not_taken(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    """Anyone can put an address they do not own on a provider account; unverified, it must not
    become theirs here (and keep its owner from signing up with it)."""
    identity = provider_user("squatted@example.com", email_verified=False)

    for sign_in in (social_sign_in, app_sign_in):
        tokens = await sign_in(client, fakes[provider], identity)
        assert (await read_me(client, tokens))["email"] is None
        assert await linked(client, tokens) == [(provider, "squatted@example.com")]

    await sign_up(client, "squatted@example.com")
    owner = await read_me(client, await log_in(client, "squatted@example.com"))
    assert owner["email"] == "squatted@example.com"
    assert owner["id"] != (await read_me(client, tokens))["id"]


async def test_an_unverified_email_does_not_keep_a_verified_one_from_being_used(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    unverified = await social_sign_in(
        client, fakes["kakao"], provider_user("real@example.com", email_verified=False)
    )
    verified = await social_sign_in(client, fakes["google"], provider_user("real@example.com"))
    assert (await read_me(client, unverified))["email"] is None
    assert (await read_me(client, verified))["email"] == "real@example.com"


async def test_the_same_user_id_at_different_providers_is_different_people(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    shared_id = str(next(provider_user_ids))
    ids = set()
    for provider in PROVIDERS:
        tokens = await social_sign_in(client, fakes[provider], ProviderUser(id=shared_id))
        ids.add((await read_me(client, tokens))["id"])
    assert len(ids) == 3
    assert await count_rows(db_engine, User) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_social_token_pair_works_like_any_other(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    tokens = await social_sign_in(client, fakes[provider], provider_user())
    me = await read_me(client, tokens)

    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert (await read_me(client, refreshed.json()))["id"] == me["id"]

    logout = await client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert logout.status_code == 204, logout.text
    assert_error(await client.get(ME, headers=bearer(tokens["access_token"])), 401, "token_revoked")


async def test_a_provider_without_email_or_nickname_still_signs_in(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    tokens = await social_sign_in(client, fakes["kakao"], provider_user(email=None, nickname=None))
    me = await read_me(client, tokens)
    assert me["email"] is None
    assert me["nickname"] == "kakao user"
    assert [link["provider"] for link in me["linked_providers"]] == ["kakao"]


async def test_a_long_nickname_is_cut_to_fit(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    tokens = await social_sign_in(client, fakes["google"], provider_user(nickname="가" * 80))
    assert (await read_me(client, tokens))["nickname"] == "가" * 50


async def test_an_email_of_a_password_account_does_not_sign_into_it(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    await sign_up(client, "owner@example.com")
    owner = await read_me(client, await log_in(client, "owner@example.com"))

    # Whoever controls a provider account with this address, even one the provider verified, has
    # not proven they own ours.
    tokens = await social_sign_in(client, fakes["kakao"], provider_user("Owner@Example.com"))

    stranger = await read_me(client, tokens)
    assert stranger["id"] != owner["id"]
    assert stranger["email"] is None
    assert [link["provider"] for link in stranger["linked_providers"]] == ["kakao"]
    owner_now = await read_me(client, await log_in(client, "owner@example.com", PASSWORD))
    assert owner_now["linked_providers"] == []
    assert owner_now["email"] == "owner@example.com"
    assert await count_rows(db_engine, User) == 2


async def test_an_email_taken_by_an_earlier_social_user_is_not_shared(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    # Both providers verified the address: two people cannot both have it.
    first = await social_sign_in(client, fakes["google"], provider_user("both@example.com"))
    second = await social_sign_in(client, fakes["kakao"], provider_user("both@example.com"))
    first_me, second_me = await read_me(client, first), await read_me(client, second)
    assert first_me["id"] != second_me["id"]
    assert first_me["email"] == "both@example.com"
    assert second_me["email"] is None
    assert await linked(client, second) == [("kakao", "both@example.com")]


async def test_a_first_sign_in_twice_at_once_makes_one_user(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    fake = fakes["google"]
    fake.next_user = provider_user("racer@example.com")
    callbacks = [await visit_provider(await start(client, "google")) for _ in range(4)]

    responses = await asyncio.gather(*(client.get(callback) for callback in callbacks))

    assert [response.status_code for response in responses] == [200] * 4, [
        response.text for response in responses
    ]
    ids = {(await read_me(client, response.json()))["id"] for response in responses}
    assert len(ids) == 1
    assert await count_rows(db_engine, User) == 1
    assert await count_rows(db_engine, SocialAccount) == 1


async def test_first_sign_ins_with_one_email_at_once_make_separate_users(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    """Different people whose providers report one verified address: one of them gets it."""
    callbacks = []
    for provider in ("google", "kakao", "google", "kakao"):
        fakes[provider].next_user = provider_user("shared@example.com")
        callbacks.append(await visit_provider(await start(client, provider)))

    responses = await asyncio.gather(*(client.get(callback) for callback in callbacks))

    assert [response.status_code for response in responses] == [200] * 4, [
        response.text for response in responses
    ]
    users = [await read_me(client, response.json()) for response in responses]
    assert len({user["id"] for user in users}) == 4
    assert sorted(str(user["email"]) for user in users) == ["None"] * 3 + ["shared@example.com"]
    assert await count_rows(db_engine, User) == 4
    assert await count_rows(db_engine, SocialAccount) == 4
