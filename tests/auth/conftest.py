"""auth-api under test: the real application (its lifespan run), against the worker's PostgreSQL
and Redis, with a key pair generated for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.app import create_app
from auth_api.settings import AuthApiSettings, OAuthProvider
from tests.support.fake_oauth import FakeProvider, fake_provider_app, fake_providers
from tests.support.keys import rsa_pem
from tests.support.servers import serve_in_thread

PASSWORD = "a long and unusual passphrase"

SettingsFactory = Callable[..., AuthApiSettings]


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


@asynccontextmanager
async def running_client(
    settings: AuthApiSettings, client_ip: str = "203.0.113.7"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an auth-api built from `settings`, seen as coming from `client_ip`. Tests that
    use it also name the `clean_database` and `redis` fixtures."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def sign_up(
    client: httpx.AsyncClient, email: str = "user@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": password, "nickname": "분리"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def log_in(
    client: httpx.AsyncClient, email: str = "user@example.com", password: str = PASSWORD
) -> dict[str, Any]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
