"""Social login as the tests play it, against auth-api and the fake providers (served on real
loopback HTTP). The browser's part: open `authorize`, follow the redirect to the fake provider
over real HTTP, and bring the provider's redirect back to auth-api's callback, which itself calls
the provider's token and user-info endpoints over real HTTP. The app's part: a registered
`redirect_uri` and a PKCE `code_challenge`, a redirect back to the app with a one-time code, and
the trade of that code with the verifier. And what the tests read back: a user's `me`, their
links, rows, pending sign-ins."""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import Morsel, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.app import create_app
from auth_api.settings import AuthApiSettings
from bunri.db.models import Base
from bunri.redis import KEY_PREFIX
from tests.support.fake_oauth import FakeProvider, ProviderUser, s256
from tests.support.users import bearer

BASE = "http://testserver"
OAUTH = "/api/v1/auth/oauth"
ME = "/api/v1/auth/me"
APP_REDIRECT = "bunri://oauth/callback"
PROVIDERS = ["kakao", "google", "naver"]
PKCE_PROVIDERS = ["kakao", "google"]
# The providers that say whether an address is verified; Naver never does.
VERIFYING_PROVIDERS = ["kakao", "google"]
BROWSER_COOKIE_PREFIX = "bunri_oauth_"

# Kakao's user ids are numbers; these are valid for every provider and never repeat in a session.
provider_user_ids = itertools.count(7_300_001)


def provider_user(
    email: str | None = None, nickname: str | None = "tester", *, email_verified: bool = True
) -> ProviderUser:
    return ProviderUser(
        id=str(next(provider_user_ids)),
        email=email,
        nickname=nickname,
        email_verified=email_verified,
    )


def expected_email(provider: str, address: str) -> str | None:
    """The e-mail a first sign-in keeps (when no account holds it): only a verified one."""
    return address if provider in VERIFYING_PROVIDERS else None


async def refuse_server_errors(response: httpx.Response) -> None:
    """A 500 is a bug (DESIGN §8); the only 5xx social login may answer is the provider's 502."""
    if response.status_code < 500:
        return
    await response.aread()
    body = response.json() if response.headers.get("content-type") == "application/json" else {}
    if response.status_code == 502 and body.get("error", {}).get("code") == "oauth_provider_error":
        return
    raise AssertionError(
        f"{response.request.method} {response.request.url} answered "
        f"{response.status_code}: {response.text}"
    )


# The browser's part of the dance.


def query_of(url: str) -> dict[str, str]:
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), url
    return {name: values[0] for name, values in params.items()}


async def start(client: httpx.AsyncClient, provider: str, **params: str) -> str:
    """Open auth-api's authorize endpoint; the provider URL it sends the browser to."""
    response = await client.get(f"{OAUTH}/{provider}/authorize", params=params)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def visit_provider(authorization_url: str) -> str:
    """Open the provider's consent page over real HTTP; the callback (path and query) it sends
    the browser back to."""
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        response = await browser.get(authorization_url)
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    assert location.startswith(f"{BASE}/"), location
    return location.removeprefix(BASE)


async def run_flow(client: httpx.AsyncClient, provider: str, **params: str) -> httpx.Response:
    """authorize → provider → callback, all in one browser; auth-api's answer to the callback."""
    callback = await visit_provider(await start(client, provider, **params))
    return await client.get(callback)


async def social_sign_in(
    client: httpx.AsyncClient, fake: FakeProvider, user: ProviderUser
) -> dict[str, Any]:
    fake.next_user = user
    response = await run_flow(client, fake.name)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def browser_cookie_for(state: str) -> tuple[str, str]:
    """The name and value of the cookie that binds a browser flow to its browser."""
    digest = hashlib.sha256(state.encode()).hexdigest()
    return BROWSER_COOKIE_PREFIX + digest[:16], digest


def cookie_header(name: str, value: str) -> dict[str, str]:
    return {"Cookie": f"{name}={value}"}


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    """The cookies a response sets, by name (each set once)."""
    found: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            assert name not in found, response.headers
            found[name] = morsel
    return found


def flow_cookies(client: httpx.AsyncClient) -> set[str]:
    """The names of the browser-flow cookies the client holds."""
    return {name for name in client.cookies if name.startswith(BROWSER_COOKIE_PREFIX)}


# The app's part: a registered redirect URI, PKCE, and the trade of the one-time code.


def new_verifier() -> str:
    """A PKCE code_verifier as an app makes one: 43 to 128 characters of [A-Za-z0-9_-]."""
    return secrets.token_urlsafe(48)


def app_params(verifier: str) -> dict[str, str]:
    """The query of an app flow: the registered redirect URI and the challenge of `verifier`."""
    return {"redirect_uri": APP_REDIRECT, "code_challenge": s256(verifier)}


def app_redirect_query(response: httpx.Response) -> dict[str, str]:
    """The query of a callback's redirect back to the app (which must be the registered URI)."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == APP_REDIRECT, location
    return query_of(location)


def code_of(response: httpx.Response) -> str:
    """The one-time code of a callback's redirect back to the app; nothing else travels there."""
    query = app_redirect_query(response)
    assert set(query) == {"code"}, query
    return query["code"]


async def exchange(
    client: httpx.AsyncClient, code: str, code_verifier: str | None = None
) -> httpx.Response:
    body = (
        {"code": code} if code_verifier is None else {"code": code, "code_verifier": code_verifier}
    )
    return await client.post(f"{OAUTH}/token", json=body)


async def app_sign_in(
    client: httpx.AsyncClient, fake: FakeProvider, user: ProviderUser
) -> dict[str, Any]:
    """A whole sign-in from the app: the flow, then the trade of its code with the verifier."""
    fake.next_user = user
    verifier = new_verifier()
    code = code_of(await run_flow(client, fake.name, **app_params(verifier)))
    response = await exchange(client, code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def start_link(
    client: httpx.AsyncClient, provider: str, access_token: str, verifier: str, **params: str
) -> str:
    """Ask for the provider URL of a link, as the app does (its redirect URI and challenge)."""
    response = await client.post(
        f"{OAUTH}/{provider}/link",
        headers=bearer(access_token),
        params=app_params(verifier) | params,
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["authorization_url"]
    return url


async def complete(client: httpx.AsyncClient, authorization_url: str) -> httpx.Response:
    return await client.get(await visit_provider(authorization_url))


async def link_code(
    client: httpx.AsyncClient,
    fake: FakeProvider,
    user: ProviderUser,
    access_token: str,
    verifier: str,
) -> str:
    """A link up to the redirect back to the app: the code the app trades (nothing linked yet)."""
    fake.next_user = user
    return code_of(
        await complete(client, await start_link(client, fake.name, access_token, verifier))
    )


async def link(
    client: httpx.AsyncClient, fake: FakeProvider, user: ProviderUser, access_token: str
) -> httpx.Response:
    """A whole link from the app; the answer to the trade of its code."""
    verifier = new_verifier()
    code = await link_code(client, fake, user, access_token, verifier)
    return await exchange(client, code, verifier)


async def read_me(client: httpx.AsyncClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(ME, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def linked(client: httpx.AsyncClient, tokens: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The (provider, provider e-mail) pairs linked to the user of `tokens`."""
    links = (await read_me(client, tokens))["linked_providers"]
    return [(entry["provider"], entry["email"]) for entry in links]


async def count_rows(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as connection:
        count: int = (
            await connection.execute(select(func.count()).select_from(model))
        ).scalar_one()
    return count


async def pending_states(redis: Redis) -> list[bytes | str]:
    """The sign-ins under way (their keys in Redis)."""
    keys: list[bytes | str] = await redis.keys(f"{KEY_PREFIX}oauth:state:*")
    return keys


def assert_token_pair(tokens: dict[str, Any]) -> None:
    assert tokens["token_type"] == "bearer"
    assert isinstance(tokens["access_token"], str)
    assert tokens["access_token"]
    assert isinstance(tokens["refresh_token"], str)
    assert tokens["refresh_token"]
    assert tokens["expires_in"] > 0


@asynccontextmanager
async def app_client(settings: AuthApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another auth-api app (its lifespan run), as the `client` fixture's is."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
            other.event_hooks["response"].append(refuse_server_errors)
            yield other
