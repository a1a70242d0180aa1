"""A control character in a signup nickname or an OAuth parameter is a 422 `invalid_text`
(bunri.web.text), not a 500 from PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from tests.support.auth import assert_error
from tests.support.users import PASSWORD

SIGNUP = "/api/v1/auth/signup"


@pytest.mark.parametrize("nickname", ["분\x00리", "a\x1bb", "\u202e분리", "분\n리"])
async def test_a_control_character_in_the_nickname_is_invalid_text(
    client: httpx.AsyncClient, nickname: str
) -> None:
    body = {"email": "nul@example.com", "password": PASSWORD, "nickname": nickname}
    response = await client.post(SIGNUP, json=body)
    assert_error(response, 422, "invalid_text")
    assert "'nickname'" in response.json()["error"]["message"]
    # Nothing was made: the same e-mail signs up with a clean nickname.
    response = await client.post(SIGNUP, json=body | {"nickname": " 분리 "})
    assert response.status_code == 201, response.text


async def test_a_nul_in_an_oauth_callback_parameter_is_invalid_text(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/auth/oauth/kakao/callback", params={"state": "a\x00"})
    assert_error(response, 422, "invalid_text")
