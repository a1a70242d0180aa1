"""Linking a provider account to a signed-in user: always an app flow, linked only when the app
trades the code with its verifier; refused for another user's identity, a second account of a
provider, a failed or hijacked flow, and an account deleted meanwhile."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import RefreshToken, SocialAccount, User
from tests.auth.oauth_flows import (
    APP_REDIRECT,
    OAUTH,
    PROVIDERS,
    app_params,
    app_redirect_query,
    assert_token_pair,
    code_of,
    complete,
    count_rows,
    exchange,
    link,
    link_code,
    linked,
    new_verifier,
    pending_states,
    provider_user,
    query_of,
    read_me,
    social_sign_in,
    start_link,
)
from tests.support.auth import assert_error
from tests.support.fake_oauth import FakeProvider, s256
from tests.support.users import bearer, log_in, sign_up

pytestmark = pytest.mark.usefixtures("no_server_errors")


# Linking a provider account to a signed-in user: an app flow, linked at the code's trade.


async def test_a_signed_in_user_links_a_provider_and_then_signs_in_with_it(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine, verifier: str
) -> None:
    await sign_up(client, "linker@example.com")
    password_tokens = await log_in(client, "linker@example.com")
    owner = await read_me(client, password_tokens)
    identity = provider_user("linker.kakao@example.com")
    fakes["kakao"].next_user = identity

    url = await start_link(client, "kakao", password_tokens["access_token"], verifier)
    response = await complete(client, url)

    # The callback only sends the app its code: nothing is linked until the app trades it.
    code = code_of(response)
    assert "set-cookie" not in response.headers
    assert await linked(client, password_tokens) == []
    assert await count_rows(db_engine, SocialAccount) == 0

    exchanged = await exchange(client, code, verifier)

    assert exchanged.status_code == 200, exchanged.text
    assert_token_pair(exchanged.json())
    assert (await read_me(client, exchanged.json()))["id"] == owner["id"]
    me = await read_me(client, password_tokens)
    assert me["has_password"] is True
    assert me["email"] == "linker@example.com"
    assert await linked(client, password_tokens) == [("kakao", "linker.kakao@example.com")]
    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")

    tokens = await social_sign_in(client, fakes["kakao"], identity)
    assert (await read_me(client, tokens))["id"] == owner["id"]
    assert await count_rows(db_engine, User) == 1


async def test_a_user_links_every_provider(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    first = await social_sign_in(client, fakes["naver"], provider_user())
    for provider in ("kakao", "google"):
        response = await link(client, fakes[provider], provider_user(), first["access_token"])
        assert response.status_code == 200, response.text
    linked_now = (await read_me(client, first))["linked_providers"]
    assert sorted(entry["provider"] for entry in linked_now) == sorted(PROVIDERS)


async def test_linking_needs_a_signed_in_user(client: httpx.AsyncClient, verifier: str) -> None:
    for params in ({}, app_params(verifier)):
        response = await client.post(f"{OAUTH}/kakao/link", params=params)
        assert_error(response, 401, "token_missing")
        response = await client.post(
            f"{OAUTH}/kakao/link", headers=bearer("not-a-token"), params=params
        )
        assert_error(response, 401, "token_invalid")


@pytest.mark.parametrize(
    ("missing", "params"),
    [
        ({"query.redirect_uri", "query.code_challenge"}, {}),
        ({"query.code_challenge"}, {"redirect_uri": APP_REDIRECT}),
        ({"query.redirect_uri"}, {"code_challenge": s256(new_verifier())}),
        ({"query.code_challenge"}, {"redirect_uri": APP_REDIRECT, "code_challenge": "short"}),
    ],
)
async def test_linking_needs_an_app_redirect_and_a_code_challenge(
    client: httpx.AsyncClient, redis: Redis, missing: set[str], params: dict[str, str]
) -> None:
    """A link can only end in the app that started it: there is no browser flow for linking."""
    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")

    response = await client.post(
        f"{OAUTH}/kakao/link", headers=bearer(tokens["access_token"]), params=params
    )

    assert_error(response, 422, "validation_error")
    assert {detail["field"] for detail in response.json()["error"]["details"]} == missing
    assert await pending_states(redis) == []


async def test_linking_an_identity_of_another_user_is_a_409(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine, verifier: str
) -> None:
    identity = provider_user("taken@example.com")
    holder = await social_sign_in(client, fakes["google"], identity)
    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    sessions = await count_rows(db_engine, RefreshToken)

    code = await link_code(client, fakes["google"], identity, tokens["access_token"], verifier)

    assert_error(await exchange(client, code, verifier), 409, "social_account_in_use")
    assert await count_rows(db_engine, RefreshToken) == sessions
    assert await linked(client, tokens) == []
    assert await linked(client, holder) == [("google", "taken@example.com")]
    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")


async def test_linking_a_second_account_of_a_provider_is_a_409(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    first = provider_user("first@example.com")
    response = await link(client, fakes["kakao"], first, tokens["access_token"])
    assert response.status_code == 200, response.text

    response = await link(
        client, fakes["kakao"], provider_user("second@example.com"), tokens["access_token"]
    )
    assert_error(response, 409, "provider_already_linked")

    # Linking the account that is already linked changes nothing.
    response = await link(client, fakes["kakao"], first, tokens["access_token"])
    assert response.status_code == 200, response.text
    assert await linked(client, tokens) == [("kakao", "first@example.com")]


@pytest.mark.parametrize("failure", ["denied", "provider error"])
async def test_a_link_that_fails_at_the_provider_goes_back_to_the_app(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    verifier: str,
    failure: str,
) -> None:
    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    fakes["naver"].next_user = provider_user()
    url = await start_link(client, "naver", tokens["access_token"], verifier)

    if failure == "denied":
        fakes["naver"].deny_next = True
        response = await complete(client, url)
        assert app_redirect_query(response) == {"error": "oauth_denied"}
    else:
        state = query_of(url)["state"]
        response = await client.get(f"{OAUTH}/naver/callback?code=forged&state={state}")
        assert app_redirect_query(response) == {"error": "oauth_provider_error"}

    assert await linked(client, tokens) == []
    assert await count_rows(db_engine, SocialAccount) == 0


@pytest.mark.parametrize("wrong", ["missing", "other", "the challenge itself"])
async def test_a_link_code_traded_with_a_wrong_verifier_links_nothing(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    verifier: str,
    wrong: str,
) -> None:
    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    sessions = await count_rows(db_engine, RefreshToken)
    code = await link_code(
        client, fakes["kakao"], provider_user(), tokens["access_token"], verifier
    )
    attempt = {
        "missing": None,
        "other": new_verifier(),
        "the challenge itself": s256(verifier),
    }[wrong]

    assert_error(await exchange(client, code, attempt), 400, "login_code_invalid")
    assert await linked(client, tokens) == []
    # The attempt spent the code: the right verifier comes too late.
    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")
    assert await linked(client, tokens) == []
    assert await count_rows(db_engine, SocialAccount) == 0
    assert await count_rows(db_engine, RefreshToken) == sessions


async def test_a_link_finished_by_someone_else_links_nothing(
    client: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
) -> None:
    """Link CSRF: the attacker starts a link to their own account and has the victim open the
    provider URL. Had the callback linked, the victim's provider account would now sign the victim
    into the attacker's account. It only sends a code to the app redirect (on the victim's
    device), and the code is worth nothing without the attacker's verifier."""
    await sign_up(client, "attacker@example.com")
    attacker_tokens = await log_in(client, "attacker@example.com")
    attacker = await read_me(client, attacker_tokens)
    attacker_verifier = new_verifier()
    url = await start_link(client, "google", attacker_tokens["access_token"], attacker_verifier)

    # The victim's browser opens the link and consents with the victim's provider account.
    victim = provider_user("victim@example.com")
    fakes["google"].next_user = victim
    response = await complete(other_browser, url)

    code = code_of(response)
    assert "set-cookie" not in response.headers
    assert await linked(client, attacker_tokens) == []
    assert await count_rows(db_engine, SocialAccount) == 0

    # The victim's app cannot trade the code (its verifier is not the attacker's); its attempt
    # spends it.
    assert_error(await exchange(other_browser, code, new_verifier()), 400, "login_code_invalid")
    assert_error(await exchange(client, code, attacker_verifier), 400, "login_code_invalid")
    assert await linked(client, attacker_tokens) == []
    assert await count_rows(db_engine, SocialAccount) == 0

    # The victim's provider account still signs in to an account of the victim's own.
    victim_tokens = await social_sign_in(other_browser, fakes["google"], victim)
    victim_me = await read_me(other_browser, victim_tokens)
    assert victim_me["id"] != attacker["id"]
    assert victim_me["email"] == "victim@example.com"


@pytest.mark.parametrize("deleted", ["before the callback", "before the trade"])
async def test_a_link_for_an_account_deleted_meanwhile_is_refused(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    verifier: str,
    deleted: str,
) -> None:
    async def delete_users() -> None:
        async with db_engine.begin() as connection:
            await connection.execute(text("DELETE FROM users"))

    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    fakes["google"].next_user = provider_user()
    url = await start_link(client, "google", tokens["access_token"], verifier)
    if deleted == "before the callback":
        await delete_users()
    code = code_of(await complete(client, url))
    if deleted == "before the trade":
        await delete_users()

    assert_error(await exchange(client, code, verifier), 400, "oauth_state_invalid")
    assert await count_rows(db_engine, SocialAccount) == 0
    assert await count_rows(db_engine, User) == 0
