"""POST /api/v1/auth/signup: accounts are created once, with a strong password, from clean input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.auth import assert_error, running_client
from tests.support.users import PASSWORD, sign_up

SIGNUP = "/api/v1/auth/signup"


async def test_creates_an_account_and_hashes_the_password_with_argon2id(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    response = await client.post(
        SIGNUP, json={"email": "New@Example.COM", "password": PASSWORD, "nickname": " 분리 "}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new@example.com"
    assert body["nickname"] == "분리"
    assert body["has_password"] is True
    assert body["linked_providers"] == []
    async with db_engine.connect() as connection:
        stored = await connection.scalar(text("SELECT password_hash FROM users"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_a_taken_email_is_a_409_whatever_its_case(client: httpx.AsyncClient) -> None:
    await sign_up(client, "taken@example.com")
    response = await client.post(
        SIGNUP, json={"email": "TAKEN@example.com", "password": PASSWORD, "nickname": "again"}
    )
    assert_error(response, 409, "email_taken")


async def test_concurrent_signups_with_one_email_create_one_account(
    client: httpx.AsyncClient, db_engine: AsyncEngine
) -> None:
    body = {"email": "race@example.com", "password": PASSWORD, "nickname": "racer"}
    responses = await asyncio.gather(*(client.post(SIGNUP, json=body) for _ in range(5)))
    assert sorted(response.status_code for response in responses) == [201, 409, 409, 409, 409]
    async with db_engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM users")) == 1


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 8"),
        ("password123", "most common"),
        ("qwer1234", "most common"),
        ("aaaaaaaaaaaa", "repeats"),
        ("abababababab", "repeats"),
        ("someone@example.com", "e-mail"),
        ("xxsomeonexx", "e-mail"),
        ("가가가가가가가가", "repeats"),
    ],
)
async def test_weak_passwords_are_refused_with_a_reason(
    client: httpx.AsyncClient, password: str, why: str
) -> None:
    response = await client.post(
        SIGNUP, json={"email": "someone@example.com", "password": password, "nickname": "닉네임"}
    )
    assert_error(response, 422, "weak_password")
    assert why in response.json()["error"]["message"]


async def test_a_password_equal_to_the_nickname_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        SIGNUP,
        json={"email": "a@example.com", "password": "분리배출마스터", "nickname": "분리배출마스터"},
    )
    assert_error(response, 422, "weak_password")


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD, "nickname": "x"},
        {"email": "a@example.com", "password": 12345678, "nickname": "x"},
        {"email": "a@example.com", "password": PASSWORD, "nickname": ""},
        {"email": "a@example.com", "password": PASSWORD, "nickname": "n" * 51},
        {"email": "a@example.com", "password": "p" * 129, "nickname": "x"},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": ["a@example.com"], "password": PASSWORD, "nickname": "x"},
        {"email": "a@example.com", "password": PASSWORD, "nickname": "x", "admin": True},
        [],
        "a string",
    ],
)
async def test_wrong_shapes_and_types_are_422_validation_errors(
    client: httpx.AsyncClient, body: object
) -> None:
    response = await client.post(SIGNUP, json=body)
    assert_error(response, 422, "validation_error")
    assert response.json()["error"]["details"]


@pytest.mark.parametrize(
    "raw", [b"{", b'{"email": "a@example.com",}', b"\xff\xfe", b"null garbage"]
)
async def test_malformed_json_is_a_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post(SIGNUP, content=raw, headers={"content-type": "application/json"})
    assert_error(response, 400, "malformed_json")


async def test_oversized_bodies_are_refused_before_parsing(client: httpx.AsyncClient) -> None:
    huge = {"email": "a@example.com", "password": PASSWORD, "nickname": "x" * 100_000}
    assert_error(await client.post(SIGNUP, json=huge), 413, "body_too_large")


async def test_oversized_streamed_bodies_are_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must count it
        for _ in range(100):
            yield b" " * 4096

    response = await client.post(
        SIGNUP, content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "body_too_large")


async def test_signups_are_rate_limited_per_address(make_auth_settings, redis, clean_database):
    async with running_client(make_auth_settings(signups_per_ip=2)) as client:
        for index in range(2):
            await sign_up(client, f"user{index}@example.com")
        response = await client.post(
            SIGNUP, json={"email": "third@example.com", "password": PASSWORD, "nickname": "x"}
        )
        assert_error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) > 0
