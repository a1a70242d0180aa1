"""The authorize redirect and its state: what is sent to the provider (client, callback, a fresh
state, PKCE where the provider supports it; never the app's challenge), how long a pending sign-in
and a login code last, and a callback that completes once, only with a state auth-api issued for
that provider."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import User
from bunri.redis import KEY_PREFIX
from tests.auth.oauth_flows import (
    BASE,
    OAUTH,
    PKCE_PROVIDERS,
    PROVIDERS,
    app_params,
    code_of,
    complete,
    count_rows,
    provider_user,
    query_of,
    start,
    visit_provider,
)
from tests.support.auth import assert_error
from tests.support.fake_oauth import FakeProvider, s256

pytestmark = pytest.mark.usefixtures("no_server_errors")


# What is sent to the provider: state, redirect URI, PKCE.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_authorization_url_names_the_client_callback_and_a_fresh_state(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    first, second = await start(client, provider), await start(client, provider)
    for url in (first, second):
        sent = query_of(url)
        assert url.split("?")[0].endswith(f"/{provider}/authorize")
        assert sent["response_type"] == "code"
        assert sent["client_id"] == fakes[provider].client_id
        assert sent["redirect_uri"] == f"{BASE}{OAUTH}/{provider}/callback"
        assert len(sent["state"]) >= 32
    assert query_of(first)["state"] != query_of(second)["state"]


@pytest.mark.parametrize("provider", PKCE_PROVIDERS)
async def test_pkce_is_used_with_providers_that_support_it(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    fake = fakes[provider]
    fake.next_user = provider_user()
    authorization_url = await start(client, provider)
    sent = query_of(authorization_url)
    assert sent["code_challenge_method"] == "S256"
    assert sent["code_challenge"] != query_of(await start(client, provider))["code_challenge"]

    callback = await visit_provider(authorization_url)
    code = query_of(callback)["code"]
    response = await client.get(callback)
    assert response.status_code == 200, response.text

    [authorize_request] = [r for r in fake.authorize_requests if r["state"] == sent["state"]]
    assert authorize_request["code_challenge"] == sent["code_challenge"] != ""
    [token_request] = [r for r in fake.token_requests if r["code"] == code]
    verifier = token_request["code_verifier"]
    assert 43 <= len(verifier) <= 128
    assert s256(verifier) == authorize_request["code_challenge"]
    assert token_request["redirect_uri"] == authorize_request["redirect_uri"]
    assert token_request["redirect_uri"] == f"{BASE}{OAUTH}/{provider}/callback"


@pytest.mark.parametrize("provider", PKCE_PROVIDERS)
async def test_the_apps_challenge_is_not_sent_to_the_provider(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str, verifier: str
) -> None:
    """The app's PKCE pair binds the login code to the app; the provider gets a pair of ours."""
    fakes[provider].next_user = provider_user()
    authorization_url = await start(client, provider, **app_params(verifier))
    sent = query_of(authorization_url)
    assert sent["code_challenge"] != s256(verifier)
    assert sent["redirect_uri"] == f"{BASE}{OAUTH}/{provider}/callback"

    callback = await visit_provider(authorization_url)
    code_of(await client.get(callback))
    [token_request] = [
        r for r in fakes[provider].token_requests if r["code"] == query_of(callback)["code"]
    ]
    assert token_request["code_verifier"] != verifier


async def test_naver_gets_no_pkce(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    fake = fakes["naver"]
    fake.next_user = provider_user()
    authorization_url = await start(client, "naver")
    sent = query_of(authorization_url)
    assert "code_challenge" not in sent
    assert "code_challenge_method" not in sent

    callback = await visit_provider(authorization_url)
    code = query_of(callback)["code"]
    response = await client.get(callback)
    assert response.status_code == 200, response.text

    [authorize_request] = [r for r in fake.authorize_requests if r["state"] == sent["state"]]
    assert authorize_request["code_challenge"] == ""
    [token_request] = [r for r in fake.token_requests if r["code"] == code]
    assert token_request["code_verifier"] == ""
    assert token_request["redirect_uri"] == f"{BASE}{OAUTH}/naver/callback"


async def test_a_pending_sign_in_and_a_login_code_expire(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], redis: Redis, verifier: str
) -> None:
    fakes["kakao"].next_user = provider_user()
    authorization_url = await start(client, "kakao", **app_params(verifier))
    state = query_of(authorization_url)["state"]
    assert 0 < await redis.ttl(f"{KEY_PREFIX}oauth:state:{state}") <= 600

    code = code_of(await complete(client, authorization_url))
    assert await redis.exists(f"{KEY_PREFIX}oauth:state:{state}") == 0
    assert 0 < await redis.ttl(f"{KEY_PREFIX}oauth:login-code:{code}") <= 60


# State.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_callback_completes_once(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    fakes[provider].next_user = provider_user()
    callback = await visit_provider(await start(client, provider))
    first = await client.get(callback)
    assert first.status_code == 200, first.text

    assert_error(await client.get(callback), 400, "oauth_state_invalid")


async def test_a_callback_replayed_at_once_completes_once(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    fakes["kakao"].next_user = provider_user()
    callback = await visit_provider(await start(client, "kakao"))

    responses = await asyncio.gather(*(client.get(callback) for _ in range(5)))

    assert [response.status_code for response in responses].count(200) == 1
    for response in responses:
        if response.status_code != 200:
            assert_error(response, 400, "oauth_state_invalid")
    assert await count_rows(db_engine, User) == 1


@pytest.mark.parametrize(
    "query",
    [
        "code=some-code&state=never-issued",
        "code=some-code",
        "code=some-code&state=",
        "",
        "error=access_denied",
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_callback_without_a_known_state_is_refused(
    client: httpx.AsyncClient, provider: str, query: str
) -> None:
    response = await client.get(f"{OAUTH}/{provider}/callback?{query}")
    assert_error(response, 400, "oauth_state_invalid")


async def test_a_state_is_bound_to_its_provider(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    fakes["kakao"].next_user = provider_user()
    callback = await visit_provider(await start(client, "kakao"))
    query = urlsplit(callback).query

    for other in ("google", "naver"):
        response = await client.get(f"{OAUTH}/{other}/callback?{query}")
        assert_error(response, 400, "oauth_state_invalid")
    # Any use spends a state: the mixed-up sign-in is over and has to start again.
    assert_error(await client.get(callback), 400, "oauth_state_invalid")
    assert await count_rows(db_engine, User) == 0


async def test_a_state_from_another_server_session_is_refused(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    """A code the provider issued for our client, with a state that we never issued."""
    fakes["google"].next_user = provider_user()
    authorization_url = await start(client, "google")
    sent = query_of(authorization_url)
    forged = authorization_url.replace(sent["state"], secrets.token_urlsafe(32))
    callback = await visit_provider(forged)

    assert_error(await client.get(callback), 400, "oauth_state_invalid")


async def test_a_forged_code_is_a_provider_error_and_spends_the_state(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    state = query_of(await start(client, "kakao"))["state"]
    callback = f"{OAUTH}/kakao/callback?code=forged&state={state}"

    assert_error(await client.get(callback), 502, "oauth_provider_error")
    assert_error(await client.get(callback), 400, "oauth_state_invalid")
    assert await count_rows(db_engine, User) == 0
