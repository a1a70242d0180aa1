"""Whoever finishes a sign-in must be whoever started it. A browser flow (no `redirect_uri`) is
bound to its browser by a cookie that `authorize` sets: the `client` keeps cookies, so a flow
started and finished on one client is one browser's, and another client (`other_browser`), or one
whose cookies were cleared, is somebody else's browser (login CSRF). An app flow is bound by its
PKCE verifier instead."""

from __future__ import annotations

import hashlib
import secrets

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.settings import AuthApiSettings
from bunri.db.models import RefreshToken, User
from tests.auth.oauth_flows import (
    OAUTH,
    PROVIDERS,
    app_client,
    app_params,
    assert_token_pair,
    browser_cookie_for,
    code_of,
    complete,
    cookie_header,
    count_rows,
    exchange,
    flow_cookies,
    provider_user,
    query_of,
    read_me,
    set_cookies,
    social_sign_in,
    start,
    visit_provider,
)
from tests.support.auth import SettingsFactory, assert_error
from tests.support.fake_oauth import FakeProvider

pytestmark = pytest.mark.usefixtures("no_server_errors")


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
