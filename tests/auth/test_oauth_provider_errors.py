"""When the provider is not there for us: it denies the sign-in, it is not one we offer (unknown,
or without a client id), or it misbehaves (down, or answering nonsense) — in a browser and from
the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.settings import OAuthProvider
from bunri.db.models import User
from tests.auth.oauth_flows import (
    OAUTH,
    PROVIDERS,
    app_client,
    app_params,
    app_redirect_query,
    app_sign_in,
    assert_token_pair,
    browser_cookie_for,
    cookie_header,
    count_rows,
    provider_user,
    query_of,
    run_flow,
    social_sign_in,
    start,
    visit_provider,
)
from tests.support.auth import SettingsFactory, assert_error
from tests.support.fake_oauth import FakeProvider
from tests.support.servers import free_port
from tests.support.users import bearer, log_in, sign_up

pytestmark = pytest.mark.usefixtures("no_server_errors")


# The provider says no.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_denied_sign_in_is_a_400(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    provider: str,
) -> None:
    fake = fakes[provider]
    fake.next_user = provider_user()
    fake.deny_next = True
    callback = await visit_provider(await start(client, provider))
    assert query_of(callback)["error"] == "access_denied"

    assert_error(await client.get(callback), 400, "oauth_denied")
    assert_error(await client.get(callback), 400, "oauth_state_invalid")
    assert await count_rows(db_engine, User) == 0


async def test_a_callback_with_neither_code_nor_error_is_denied(client: httpx.AsyncClient) -> None:
    state = query_of(await start(client, "google"))["state"]
    response = await client.get(f"{OAUTH}/google/callback?state={state}")
    assert_error(response, 400, "oauth_denied")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_denied_sign_in_from_the_app_goes_back_to_the_app(
    client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    provider: str,
    verifier: str,
) -> None:
    fake = fakes[provider]
    fake.next_user = provider_user()
    fake.deny_next = True

    response = await run_flow(client, provider, **app_params(verifier))

    assert app_redirect_query(response) == {"error": "oauth_denied"}
    assert await count_rows(db_engine, User) == 0


async def test_a_provider_error_from_the_app_goes_back_to_the_app(
    client: httpx.AsyncClient, verifier: str
) -> None:
    state = query_of(await start(client, "naver", **app_params(verifier)))["state"]
    response = await client.get(f"{OAUTH}/naver/callback?code=forged&state={state}")
    assert app_redirect_query(response) == {"error": "oauth_provider_error"}


# Providers we do not offer.


@pytest.mark.parametrize("name", ["facebook", "Kakao", "apple"])
async def test_an_unknown_provider_is_a_404(
    client: httpx.AsyncClient, name: str, verifier: str
) -> None:
    assert_error(await client.get(f"{OAUTH}/{name}/authorize"), 404, "unknown_provider")
    response = await client.get(f"{OAUTH}/{name}/authorize", params=app_params(verifier))
    assert_error(response, 404, "unknown_provider")
    assert_error(
        await client.get(f"{OAUTH}/{name}/callback?code=c&state=s"), 404, "unknown_provider"
    )
    await sign_up(client, f"{name.lower()}@example.com")
    tokens = await log_in(client, f"{name.lower()}@example.com")
    response = await client.post(
        f"{OAUTH}/{name}/link", headers=bearer(tokens["access_token"]), params=app_params(verifier)
    )
    assert_error(response, 404, "unknown_provider")


def fake_provider_settings(base_url: str, fake: FakeProvider, **overrides: Any) -> OAuthProvider:
    values: dict[str, Any] = {
        "client_id": fake.client_id,
        "client_secret": SecretStr(fake.client_secret),
        "authorize_url": f"{base_url}/{fake.name}/authorize",
        "token_url": f"{base_url}/{fake.name}/token",
        "userinfo_url": f"{base_url}/{fake.name}/userinfo",
        "use_pkce": fake.supports_pkce,
    }
    return OAuthProvider(**(values | overrides))


@pytest.fixture
async def naver_off_client(
    make_auth_settings: SettingsFactory,
    oauth_providers: tuple[str, dict[str, FakeProvider]],
    client: httpx.AsyncClient,  # the regular app: same database and Redis, set up first
) -> AsyncIterator[httpx.AsyncClient]:
    base_url, fakes = oauth_providers
    naver_off = fake_provider_settings(base_url, fakes["naver"], client_id=None)
    async with app_client(make_auth_settings(oauth_naver=naver_off)) as naver_off_client:
        yield naver_off_client


async def test_a_provider_without_a_client_id_is_not_offered(
    client: httpx.AsyncClient,
    naver_off_client: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    verifier: str,
) -> None:
    assert_error(await naver_off_client.get(f"{OAUTH}/naver/authorize"), 404, "provider_disabled")
    response = await naver_off_client.get(f"{OAUTH}/naver/authorize", params=app_params(verifier))
    assert_error(response, 404, "provider_disabled")
    assert_error(
        await naver_off_client.get(f"{OAUTH}/naver/callback?code=c&state=s"),
        404,
        "provider_disabled",
    )
    await sign_up(naver_off_client, "linker@example.com")
    tokens = await log_in(naver_off_client, "linker@example.com")
    response = await naver_off_client.post(
        f"{OAUTH}/naver/link", headers=bearer(tokens["access_token"]), params=app_params(verifier)
    )
    assert_error(response, 404, "provider_disabled")

    # A sign-in started while Naver was on cannot be finished once it is off, even by the browser
    # that started it (its cookie shown to the reconfigured server).
    fakes["naver"].next_user = provider_user()
    authorization_url = await start(client, "naver")
    cookie = browser_cookie_for(query_of(authorization_url)["state"])
    callback = await visit_provider(authorization_url)
    response = await naver_off_client.get(callback, headers=cookie_header(*cookie))
    assert_error(response, 404, "provider_disabled")

    # The other providers are unaffected, in a browser and in the app.
    tokens = await social_sign_in(naver_off_client, fakes["kakao"], provider_user())
    assert_token_pair(tokens)
    tokens = await app_sign_in(naver_off_client, fakes["google"], provider_user())
    assert_token_pair(tokens)


# A provider that misbehaves.


@pytest.mark.parametrize(
    "breakage", ["token endpoint down", "user info in HTML", "user info of another provider"]
)
async def test_a_misbehaving_provider_is_a_502(
    client: httpx.AsyncClient,
    make_auth_settings: SettingsFactory,
    oauth_providers: tuple[str, dict[str, FakeProvider]],
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    breakage: str,
    verifier: str,
) -> None:
    base_url, _ = oauth_providers
    override = {
        "token endpoint down": {"token_url": f"http://127.0.0.1:{free_port()}/token"},
        "user info in HTML": {"userinfo_url": f"{base_url}/docs"},
        "user info of another provider": {"userinfo_url": f"{base_url}/naver/userinfo"},
    }[breakage]
    kakao = fake_provider_settings(base_url, fakes["kakao"], **override)

    async with app_client(make_auth_settings(oauth_kakao=kakao)) as broken:
        fakes["kakao"].next_user = provider_user()
        assert_error(await run_flow(broken, "kakao"), 502, "oauth_provider_error")

        fakes["kakao"].next_user = provider_user()
        response = await run_flow(broken, "kakao", **app_params(verifier))
        assert app_redirect_query(response) == {"error": "oauth_provider_error"}

    assert await count_rows(db_engine, User) == 0
