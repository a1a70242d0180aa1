"""auth-api for tests: its settings (cheap password hashing), a client of an app built from
settings, and the shape of its errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx

from auth_api.app import create_app
from auth_api.settings import AuthApiSettings

# What the `make_auth_settings` fixture gives: settings, with any of them overridden.
SettingsFactory = Callable[..., AuthApiSettings]


def auth_settings(database_url: str, redis_url: str, signing_key: str) -> AuthApiSettings:
    """auth-api's settings for tests: cheap password hashing, no rate limits to speak of."""
    return AuthApiSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        signing_key=signing_key,
        argon2_time_cost=1,
        argon2_memory_cost_kib=256,
        argon2_parallelism=1,
        log_json=False,
        login_attempts_per_ip=100_000,
        signups_per_ip=100_000,
    )


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


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
