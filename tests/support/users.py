"""Users for tests: the password they all sign up with, signing one up and in (through a client
of auth-api, or over real HTTP to a running one), and the header their access token goes in."""

from __future__ import annotations

import time
from typing import Any

import httpx

PASSWORD = "a long and unusual passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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


_users = iter(range(1, 10**9))


async def new_user(auth_url: str) -> dict[str, str]:
    """A fresh user's bearer header."""
    email = f"scanner{next(_users)}.{time.time_ns()}@example.com"
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        response = await auth.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "n"}
        )
        assert response.status_code == 201, response.text
        tokens = await auth.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}
