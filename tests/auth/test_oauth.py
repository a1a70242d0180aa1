"""Social login (Kakao, Google, Naver) end to end: auth-api against the fake provider served on real
loopback HTTP. A test plays the browser: it opens `authorize`, follows the redirect to the fake
provider over real HTTP, and brings the provider's redirect back to auth-api's callback, which
itself calls the provider's token and user-info endpoints over real HTTP.

Whoever finishes a sign-in must be whoever started it. A browser flow (no `redirect_uri`) is bound
to its browser by a cookie that `authorize` sets: the `client` keeps cookies, so a flow started and
finished on one client is one browser's, and another client (`other_browser`), or one whose cookies
were cleared, is somebody else's browser. An app flow (a registered `redirect_uri` and a PKCE
`code_challenge`) ends in a redirect to the app with a one-time code, which only the holder of the
verifier can trade for tokens; linking a provider to a signed-in user is always an app flow, and
links only at that trade.

The fake providers are shared by the whole session, so each test sets `next_user` (with an id of
its own) and `deny_next` itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import Morsel, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.app import create_app
from auth_api.settings import AuthApiSettings, OAuthProvider
from bunri.db.models import Base, RefreshToken, SocialAccount, User
from bunri.redis import KEY_PREFIX
from tests.auth.conftest import PASSWORD, SettingsFactory, assert_error, bearer, log_in, sign_up
from tests.support.fake_oauth import FakeProvider, ProviderUser, s256
from tests.support.servers import free_port

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
_provider_user_ids = itertools.count(7_300_001)


def provider_user(
    email: str | None = None, nickname: str | None = "tester", *, email_verified: bool = True
) -> ProviderUser:
    return ProviderUser(
        id=str(next(_provider_user_ids)),
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


@pytest.fixture(autouse=True)
def no_server_errors(client: httpx.AsyncClient) -> None:
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


@pytest.fixture
def verifier() -> str:
    return new_verifier()


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
    shared_id = str(next(_provider_user_ids))
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


# A browser flow is finished only by the browser that started it.


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_browser_flow_sets_a_cookie_bound_to_its_state(
    client: httpx.AsyncClient, auth_settings: AuthApiSettings, provider: str
) -> None:
    response = await client.get(f"{OAUTH}/{provider}/authorize")
    assert response.status_code == 302, response.text
    name, value = browser_cookie_for(query_of(response.headers["location"])["state"])

    cookies = set_cookies(response)
    assert list(cookies) == [name]
    cookie = cookies[name]
    assert cookie.value == value
    assert len(value) == 64
    assert cookie["path"] == OAUTH
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"
    assert cookie["max-age"] == str(auth_settings.oauth_state_ttl_seconds)
    assert not cookie["secure"]  # this server is on plain HTTP
    assert not cookie["domain"]
    assert client.cookies.get(name) == value


async def test_the_browser_cookie_is_secure_behind_https(
    make_auth_settings: SettingsFactory,
    client: httpx.AsyncClient,  # the regular app: same database and Redis, set up first
) -> None:
    settings = make_auth_settings(public_base_url="https://auth.bunri.example")
    async with app_client(settings) as secure_client:
        response = await secure_client.get(f"{OAUTH}/kakao/authorize")
    assert response.status_code == 302, response.text
    name, _ = browser_cookie_for(query_of(response.headers["location"])["state"])
    cookie = set_cookies(response)[name]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "lax"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_successful_callback_deletes_its_cookie(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], provider: str
) -> None:
    fakes[provider].next_user = provider_user()
    authorization_url = await start(client, provider)
    name, _ = browser_cookie_for(query_of(authorization_url)["state"])
    assert flow_cookies(client) == {name}

    response = await complete(client, authorization_url)

    assert response.status_code == 200, response.text
    assert_token_pair(response.json())
    deleted = set_cookies(response)[name]
    assert deleted.value == ""
    assert deleted["max-age"] == "0"
    assert deleted["path"] == OAUTH
    assert flow_cookies(client) == set()


@pytest.mark.parametrize(
    "victim", ["another browser", "no cookie", "another sign-in's cookie", "a forged cookie"]
)
async def test_a_sign_in_finished_in_another_browser_is_refused(
    client: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    db_engine: AsyncEngine,
    victim: str,
) -> None:
    """Login CSRF: the attacker starts a sign-in with their own provider account and has the
    victim's browser finish it, which would sign the victim into the attacker's account (and have
    the victim fill it)."""
    fake = fakes["kakao"]
    attacker = provider_user("attacker@example.com")
    await social_sign_in(client, fake, attacker)  # the attacker's account exists already
    users, sessions = await count_rows(db_engine, User), await count_rows(db_engine, RefreshToken)

    # In the attacker's browser (`client`): authorize and consent, but not the callback.
    fake.next_user = attacker
    authorization_url = await start(client, "kakao")
    state = query_of(authorization_url)["state"]
    name, value = browser_cookie_for(state)
    callback = await visit_provider(authorization_url)
    provider_code = query_of(callback)["code"]

    # The victim's browser is lured to the callback URL.
    if victim == "another browser":
        response = await other_browser.get(callback)
    elif victim == "no cookie":
        client.cookies.clear()
        response = await client.get(callback)
    elif victim == "another sign-in's cookie":
        await start(other_browser, "kakao")  # the victim's own sign-in, under way
        assert len(flow_cookies(other_browser)) == 1
        response = await other_browser.get(callback)
    else:
        forged = hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest()
        response = await other_browser.get(callback, headers=cookie_header(name, forged))

    assert_error(response, 400, "oauth_browser_mismatch")
    assert "set-cookie" not in response.headers
    # Nothing was done with the provider's code: no session, no account.
    assert [r for r in fake.token_requests if r["code"] == provider_code] == []
    assert await count_rows(db_engine, User) == users
    assert await count_rows(db_engine, RefreshToken) == sessions
    # The state is spent: not even the browser that started the sign-in can finish it now.
    response = await client.get(callback, headers=cookie_header(name, value))
    assert_error(response, 400, "oauth_state_invalid")


async def test_a_browser_cookie_is_for_its_own_sign_in_only(
    client: httpx.AsyncClient, other_browser: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    """The value of one sign-in's cookie, under the name of another's, proves nothing."""
    fakes["google"].next_user = provider_user()
    mine = query_of(await start(other_browser, "google"))["state"]
    theirs = await visit_provider(await start(client, "google"))
    name, _ = browser_cookie_for(query_of(theirs)["state"])
    _, value = browser_cookie_for(mine)

    response = await other_browser.get(theirs, headers=cookie_header(name, value))
    assert_error(response, 400, "oauth_browser_mismatch")


async def test_a_cookie_that_is_not_ascii_is_a_mismatch(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider]
) -> None:
    fakes["kakao"].next_user = provider_user()
    callback = await visit_provider(await start(client, "kakao"))
    name, _ = browser_cookie_for(query_of(callback)["state"])
    client.cookies.clear()

    # An octal-escaped cookie value, which the server unquotes to "é".
    response = await client.get(callback, headers=cookie_header(name, '"\\303\\251"'))
    assert_error(response, 400, "oauth_browser_mismatch")


async def test_several_sign_ins_under_way_in_one_browser_all_complete(
    client: httpx.AsyncClient, fakes: dict[str, FakeProvider], db_engine: AsyncEngine
) -> None:
    flows = []
    for provider in ("kakao", "google", "naver", "kakao"):
        identity = provider_user()
        fakes[provider].next_user = identity
        authorization_url = await start(client, provider)
        cookie_name, _ = browser_cookie_for(query_of(authorization_url)["state"])
        flows.append((cookie_name, await visit_provider(authorization_url)))
    assert flow_cookies(client) == {cookie_name for cookie_name, _ in flows}

    ids = set()
    for cookie_name, callback in reversed(flows):  # in another order than they were started
        response = await client.get(callback)
        assert response.status_code == 200, response.text
        ids.add((await read_me(client, response.json()))["id"])
        assert cookie_name not in flow_cookies(client)

    assert len(ids) == 4
    assert flow_cookies(client) == set()
    assert await count_rows(db_engine, User) == 4


async def test_an_app_flow_is_bound_by_its_verifier_not_by_a_cookie(
    client: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    fakes: dict[str, FakeProvider],
    verifier: str,
) -> None:
    """An app's sign-in may end in another browser than it began (the app opens the provider in
    a browser tab of its own): only the verifier matters there."""
    fakes["google"].next_user = provider_user()
    response = await client.get(f"{OAUTH}/google/authorize", params=app_params(verifier))
    assert response.status_code == 302, response.text
    assert "set-cookie" not in response.headers

    code = code_of(await complete(other_browser, response.headers["location"]))

    tokens = await exchange(client, code, verifier)
    assert tokens.status_code == 200, tokens.text
    assert_token_pair(tokens.json())


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


@asynccontextmanager
async def app_client(settings: AuthApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another auth-api app (its lifespan run), as the `client` fixture's is."""
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as other:
            other.event_hooks["response"].append(refuse_server_errors)
            yield other


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
