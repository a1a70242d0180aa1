"""auth-api under test: the real application (its lifespan run), against the worker's PostgreSQL
and Redis, with a key pair generated for the session; and for the social login tests, the fake
providers served on real loopback HTTP, a second browser, and a PKCE verifier."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.app import create_app
from auth_api.settings import AuthApiSettings, OAuthProvider
from tests.auth.oauth_flows import BASE, new_verifier, refuse_server_errors
from tests.support.auth import SettingsFactory
from tests.support.fake_oauth import FakeProvider, fake_provider_app, fake_providers
from tests.support.keys import rsa_pem
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="session")
def signing_key_pem() -> str:
    return rsa_pem()


@pytest.fixture(scope="session")
def oauth_providers() -> Iterator[tuple[str, dict[str, FakeProvider]]]:
    providers = fake_providers()
    with serve_in_thread(fake_provider_app(providers)) as base_url:
        yield base_url, providers


@pytest.fixture
def make_auth_settings(
    database_url: str,
    redis_url: str,
    signing_key_pem: str,
    oauth_providers: tuple[str, dict[str, FakeProvider]],
) -> SettingsFactory:
    base_url, providers = oauth_providers

    def provider_settings(name: str) -> OAuthProvider:
        fake = providers[name]
        return OAuthProvider(
            client_id=fake.client_id,
            client_secret=SecretStr(fake.client_secret),
            authorize_url=f"{base_url}/{name}/authorize",
            token_url=f"{base_url}/{name}/token",
            userinfo_url=f"{base_url}/{name}/userinfo",
            use_pkce=fake.supports_pkce,
        )

    def make(**overrides: Any) -> AuthApiSettings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "redis_url": redis_url,
            "signing_key": signing_key_pem,
            "public_base_url": "http://testserver",
            # Cheap hashes keep the suite fast; one test checks the production parameters.
            "argon2_time_cost": 1,
            "argon2_memory_cost_kib": 256,
            "argon2_parallelism": 1,
            "oauth_kakao": provider_settings("kakao"),
            "oauth_google": provider_settings("google"),
            "oauth_naver": provider_settings("naver"),
            "log_json": False,
        }
        return AuthApiSettings(**(values | overrides))

    return make


@pytest.fixture
def auth_settings(make_auth_settings: SettingsFactory) -> AuthApiSettings:
    return make_auth_settings()


@pytest.fixture
async def auth_app(
    auth_settings: AuthApiSettings, clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[FastAPI]:
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


# Social login. The fake providers are shared by the whole session: each test sets `next_user`
# (with an id of its own) and `deny_next` itself.


@pytest.fixture
def no_server_errors(client: httpx.AsyncClient) -> None:
    """Fails a test whose `client` gets a 500 (the social login tests name it in `pytestmark`)."""
    client.event_hooks["response"].append(refuse_server_errors)


@pytest.fixture
def fakes(oauth_providers: tuple[str, dict[str, FakeProvider]]) -> dict[str, FakeProvider]:
    _, providers = oauth_providers
    for provider in providers.values():
        provider.deny_next = False
    return providers


@pytest.fixture
async def other_browser(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Somebody else's browser on the same auth-api: a client with cookies of its own."""
    transport = httpx.ASGITransport(app=auth_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as browser:
        browser.event_hooks["response"].append(refuse_server_errors)
        yield browser


@pytest.fixture
def verifier() -> str:
    return new_verifier()
