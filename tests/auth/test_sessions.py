"""Refresh-token rotation with reuse detection, logout, /me and the JWKS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import RefreshToken
from tests.support.auth import assert_error
from tests.support.users import bearer, log_in, sign_up

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_both_tokens_within_the_same_session(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    first = await log_in(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    claims = [
        jwt.decode(pair["access_token"], options={"verify_signature": False})
        for pair in (first, second)
    ]
    assert claims[0]["sid"] == claims[1]["sid"]
    assert claims[0]["jti"] != claims[1]["jti"]
    assert (await client.get(ME, headers=bearer(second["access_token"]))).status_code == 200
    # The next rotation works from the new token.
    assert (await refresh(client, second["refresh_token"])).status_code == 200


async def test_replaying_a_spent_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    stolen = await log_in(client)
    rotated = (await refresh(client, stolen["refresh_token"])).json()

    replay = await refresh(client, stolen["refresh_token"])

    assert_error(replay, 401, "refresh_token_reused")
    # The legitimate holder's newer tokens die with the family, at once and everywhere.
    assert_error(await refresh(client, rotated["refresh_token"]), 401, "refresh_token_invalid")
    assert_error(
        await client.get(ME, headers=bearer(rotated["access_token"])), 401, "token_revoked"
    )
    assert_error(await client.get(ME, headers=bearer(stolen["access_token"])), 401, "token_revoked")


async def test_reuse_revokes_only_that_family(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    phone = await log_in(client)
    laptop = await log_in(client)
    await refresh(client, phone["refresh_token"])
    await refresh(client, phone["refresh_token"])  # reuse on the phone's family
    assert (await client.get(ME, headers=bearer(laptop["access_token"]))).status_code == 200
    assert (await refresh(client, laptop["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_let_at_most_one_through(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    responses = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(4)))
    assert sum(response.status_code == 200 for response in responses) <= 1
    assert all(response.status_code in (200, 401) for response in responses)


async def test_expired_and_unknown_refresh_tokens_are_refused(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    async with db_engine.begin() as connection:
        await connection.execute(
            update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_error(await refresh(client, pair["refresh_token"]), 401, "refresh_token_expired")
    assert_error(await refresh(client, "made-up-token"), 401, "refresh_token_invalid")
    assert_error(await client.post(REFRESH, json={}), 422, "validation_error")
    assert_error(await client.post(REFRESH, json={"refresh_token": ""}), 422, "validation_error")


async def test_refresh_tokens_are_stored_only_as_digests(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    async with db_engine.connect() as connection:
        stored = await connection.scalar(text("SELECT token_hash FROM refresh_tokens"))
    assert len(stored) == 32
    assert pair["refresh_token"].encode() not in stored


async def test_logout_revokes_the_access_token_and_its_session_at_once(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    other_device = await log_in(client)

    response = await client.post(LOGOUT, headers=bearer(pair["access_token"]))

    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(ME, headers=bearer(pair["access_token"])), 401, "token_revoked")
    assert_error(await refresh(client, pair["refresh_token"]), 401, "refresh_token_invalid")
    # Other sign-ins of the same user are untouched.
    assert (await client.get(ME, headers=bearer(other_device["access_token"]))).status_code == 200


async def test_logout_can_also_revoke_a_named_refresh_token_of_the_same_user(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    await sign_up(client, "other@example.com")
    current = await log_in(client)
    older = await log_in(client)
    strangers = await log_in(client, "other@example.com")

    await client.post(
        LOGOUT,
        headers=bearer(current["access_token"]),
        json={"refresh_token": older["refresh_token"]},
    )
    assert_error(await refresh(client, older["refresh_token"]), 401, "refresh_token_invalid")
    # Someone else's refresh token is not ours to revoke.
    await client.post(
        LOGOUT,
        headers=bearer(older["access_token"]),
        json={"refresh_token": strangers["refresh_token"]},
    )
    assert (await refresh(client, strangers["refresh_token"])).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.post(LOGOUT), 401, "token_missing")


async def test_revocation_lasts_exactly_as_long_as_the_token(
    client: httpx.AsyncClient, redis
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    await client.post(LOGOUT, headers=bearer(pair["access_token"]))
    ttl = await redis.ttl(f"bunri:revoked:jti:{claims['jti']}")
    remaining = claims["exp"] - int(datetime.now(UTC).timestamp())
    assert remaining <= ttl <= remaining + 31  # + the verifiers' leeway


async def test_me_shows_the_profile(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    pair = await log_in(client)
    response = await client.get(ME, headers=bearer(pair["access_token"]))
    assert response.json() == user


async def test_me_for_a_deleted_account_is_a_401(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    await sign_up(client)
    pair = await log_in(client)
    async with db_engine.begin() as connection:
        await connection.execute(text("DELETE FROM users"))
    assert_error(await client.get(ME, headers=bearer(pair["access_token"])), 401, "token_invalid")


async def test_jwks_publishes_the_public_signing_key(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    pair = await log_in(client)
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()  # never the private part
    assert key["kid"] == jwt.get_unverified_header(pair["access_token"])["kid"]
    public = jwt.PyJWK(key)
    claims = jwt.decode(pair["access_token"], public, algorithms=["RS256"], audience="bunri-api")
    assert claims["iss"] == "bunri-auth"
