from __future__ import annotations

import httpx

from tests.auth.conftest import bearer, log_in, sign_up


async def test_sign_up_log_in_and_read_me(client: httpx.AsyncClient) -> None:
    await sign_up(client)
    tokens = await log_in(client)
    response = await client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200
    assert response.json()["email"] == "user@example.com"
