"""Back to the app: an app flow (a registered `redirect_uri` and a PKCE `code_challenge`) ends in a
redirect to the app with a one-time login code, which only the holder of the verifier can trade
for tokens, once."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import RefreshToken
from tests.auth.oauth_flows import (
    APP_REDIRECT,
    OAUTH,
    PROVIDERS,
    app_params,
    assert_token_pair,
    code_of,
    count_rows,
    exchange,
    expected_email,
    linked,
    new_verifier,
    pending_states,
    provider_user,
    read_me,
    run_flow,
)
from tests.support.auth import assert_error
from tests.support.fake_oauth import FakeProvider, s256
from tests.support.users import bearer, log_in, sign_up

pytestmark = pytest.mark.usefixtures("no_server_errors")


# Back to the app with a one-time login code.


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "bunri://oauth/callback/",
        "bunri://oauth/callback?next=/admin",
        "bunri://oauth/callback#x",
        "BUNRI://oauth/callback",
        "bunri://evil/callback",
        "",
    ],
)
async def test_an_unregistered_app_redirect_is_refused(
    client: httpx.AsyncClient, redis: Redis, redirect_uri: str, verifier: str
) -> None:
    # With a challenge or without one: the redirect URI is checked first.
    for params in (
        {"redirect_uri": redirect_uri},
        app_params(verifier) | {"redirect_uri": redirect_uri},
    ):
        response = await client.get(f"{OAUTH}/kakao/authorize", params=params)
        assert_error(response, 400, "redirect_uri_not_allowed")
        assert "set-cookie" not in response.headers

    await sign_up(client, "linker@example.com")
    tokens = await log_in(client, "linker@example.com")
    response = await client.post(
        f"{OAUTH}/google/link",
        headers=bearer(tokens["access_token"]),
        params=app_params(verifier) | {"redirect_uri": redirect_uri},
    )
    assert_error(response, 400, "redirect_uri_not_allowed")
    assert await pending_states(redis) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_app_redirect_needs_a_code_challenge(
    client: httpx.AsyncClient, redis: Redis, provider: str
) -> None:
    """Without one, whoever receives the redirect (another app claiming the URI scheme, say) could
    trade the code."""
    response = await client.get(
        f"{OAUTH}/{provider}/authorize", params={"redirect_uri": APP_REDIRECT}
    )
    assert_error(response, 400, "code_challenge_required")
    assert "set-cookie" not in response.headers
    assert await pending_states(redis) == []


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_app_trades_its_login_code_once(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str, verifier: str
) -> None:
    address = f"app.{provider}@example.com"
    fakes[provider].next_user = provider_user(address)

    response = await run_flow(client, provider, **app_params(verifier))

    # Only a one-time code travels in the URL, never a token.
    code = code_of(response)
    assert "set-cookie" not in response.headers
    tokens = await exchange(client, code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert_token_pair(tokens.json())
    assert (await read_me(client, tokens.json()))["email"] == expected_email(provider, address)
    assert await linked(client, tokens.json()) == [(provider, address)]

    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")


async def test_an_unknown_login_code_is_refused(client: httpx.AsyncClient, verifier: str) -> None:
    assert_error(await exchange(client, "never-issued"), 400, "login_code_invalid")
    assert_error(await exchange(client, "never-issued", verifier), 400, "login_code_invalid")
    response = await client.post(f"{OAUTH}/token", json={"code": "x", "extra": 1})
    assert_error(response, 422, "validation_error")


async def login_code_with_challenge(
    client: httpx.AsyncClient, fake: FakeProvider, verifier: str
) -> str:
    fake.next_user = provider_user()
    return code_of(await run_flow(client, fake.name, **app_params(verifier)))


async def test_a_login_code_needs_the_right_verifier(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], verifier: str
) -> None:
    code = await login_code_with_challenge(client, fakes["kakao"], verifier)
    response = await exchange(client, code, verifier)
    assert response.status_code == 200, response.text
    await read_me(client, response.json())


@pytest.mark.parametrize("wrong", ["missing", "other", "the challenge itself"])
async def test_a_login_code_refuses_a_wrong_verifier(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    verifier: str,
    wrong: str,
) -> None:
    code = await login_code_with_challenge(client, fakes["google"], verifier)
    sessions = await count_rows(db_engine, RefreshToken)
    attempt = {
        "missing": None,
        "other": new_verifier(),
        "the challenge itself": s256(verifier),
    }[wrong]

    assert_error(await exchange(client, code, attempt), 400, "login_code_invalid")
    # A code is spent by any attempt, as a provider's authorization code is.
    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")
    assert await count_rows(db_engine, RefreshToken) == sessions


async def test_a_verifier_that_is_not_ascii_is_refused(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], verifier: str
) -> None:
    code = await login_code_with_challenge(client, fakes["kakao"], verifier)
    assert_error(await exchange(client, code, "é" * 43), 422, "validation_error")


@pytest.mark.parametrize("challenge", ["short", "x" * 129, "not+base64url/" * 4])
async def test_a_malformed_code_challenge_is_refused(
    client: httpx.AsyncClient, challenge: str
) -> None:
    response = await client.get(
        f"{OAUTH}/kakao/authorize",
        params={"redirect_uri": APP_REDIRECT, "code_challenge": challenge},
    )
    assert_error(response, 422, "validation_error")


async def test_a_login_code_of_a_deleted_account_is_refused(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine, verifier: str
) -> None:
    fakes["naver"].next_user = provider_user()
    code = code_of(await run_flow(client, "naver", **app_params(verifier)))
    async with db_engine.begin() as connection:
        await connection.execute(text("DELETE FROM users"))

    assert_error(await exchange(client, code, verifier), 400, "login_code_invalid")
