"""POST /api/v1/auth/login."""

from __future__ import annotations

import statistics
import time

import httpx
import jwt

from tests.support.auth import assert_error, running_client
from tests.support.users import PASSWORD, bearer, log_in, sign_up

LOGIN = "/api/v1/auth/login"


async def test_answers_a_token_pair(client: httpx.AsyncClient) -> None:
    user = await sign_up(client)
    tokens = await log_in(client, "USER@example.com")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_expires_in"] == 30 * 24 * 3600
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["id"]
    assert {"iss", "aud", "sub", "jti", "iat", "exp", "sid"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 900


async def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client)
    wrong = await client.post(LOGIN, json={"email": "user@example.com", "password": "nope nope"})
    unknown = await client.post(LOGIN, json={"email": "who@example.com", "password": "nope nope"})
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()


async def test_unknown_emails_take_as_long_as_wrong_passwords(
    make_auth_settings, redis, clean_database
) -> None:
    """With production-strength hashing, an unknown e-mail must not answer measurably faster
    (it is checked against a decoy hash); skipping the hash would make it ~50 times faster."""
    settings = make_auth_settings(
        argon2_time_cost=2,
        argon2_memory_cost_kib=19 * 1024,
        argon2_parallelism=1,
        login_failures_per_account_address=1000,
        login_failures_per_account=1000,
        login_attempts_per_ip=1000,
    )
    async with running_client(settings) as client:
        await sign_up(client)

        async def timed(email: str) -> float:
            started = time.perf_counter()
            response = await client.post(LOGIN, json={"email": email, "password": "wrong guess"})
            assert response.status_code == 401
            return time.perf_counter() - started

        known, unknown = [], []
        for _ in range(9):
            known.append(await timed("user@example.com"))
            unknown.append(await timed("nobody@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


async def test_a_hash_with_old_parameters_is_upgraded_at_login(
    make_auth_settings, redis, clean_database, db_engine
) -> None:
    from sqlalchemy import text

    async with running_client(make_auth_settings(argon2_time_cost=1)) as client:
        await sign_up(client)
    async with running_client(make_auth_settings(argon2_time_cost=2)) as client:
        await log_in(client)
    async with db_engine.connect() as connection:
        stored = await connection.scalar(text("SELECT password_hash FROM users"))
    assert ",t=2," in stored


async def test_production_hash_parameters_are_owasps(make_auth_settings) -> None:
    from auth_api.passwords import PasswordHasher
    from auth_api.settings import AuthApiSettings

    defaults = AuthApiSettings.model_fields
    settings = make_auth_settings(
        argon2_time_cost=defaults["argon2_time_cost"].default,
        argon2_memory_cost_kib=defaults["argon2_memory_cost_kib"].default,
        argon2_parallelism=defaults["argon2_parallelism"].default,
    )
    hashed = await PasswordHasher(settings).hash(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_a_social_only_account_cannot_log_in_with_a_password(
    client: httpx.AsyncClient, db_engine
) -> None:
    from sqlalchemy import text

    await sign_up(client)
    async with db_engine.begin() as connection:
        await connection.execute(text("UPDATE users SET password_hash = NULL"))
    response = await client.post(LOGIN, json={"email": "user@example.com", "password": PASSWORD})
    assert_error(response, 401, "invalid_credentials")


async def test_an_ed25519_signing_key_issues_eddsa_tokens(
    make_auth_settings, redis, clean_database
) -> None:
    from tests.support.keys import ed25519_pem

    async with running_client(make_auth_settings(signing_key=ed25519_pem())) as client:
        await sign_up(client)
        tokens = await log_in(client)
        assert jwt.get_unverified_header(tokens["access_token"])["alg"] == "EdDSA"
        (key,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
        assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
        me = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
        assert me.status_code == 200
