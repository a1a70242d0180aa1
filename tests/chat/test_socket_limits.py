"""A chat socket is only as good as its token, and one client cannot hold the server's memory:
a revoked token closes the socket at its next message, an expired one at its expiry (unless an
`auth` frame renewed it), frames are read up to `ws_max_bytes`, and sockets are capped per
person and, before authentication, per address."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from auth_api.keys import parse_private_key
from auth_api.tokens import AccessTokenIssuer
from bunri.ids import uuid7
from tests.support.auth import auth_settings
from tests.support.chat import StartChat, open_chat
from tests.support.processes import BIN
from tests.support.servers import free_port, run_process
from tests.support.users import new_user


async def closed_with(socket: ClientConnection, seconds: float = 10) -> tuple[int, str]:
    """(code, reason) the server closed `socket` with, within `seconds` of each frame."""

    async def until_closed() -> None:
        while True:
            await asyncio.wait_for(socket.recv(), seconds)

    with pytest.raises(ConnectionClosed) as closed:
        await until_closed()
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def short_lived_token(
    database_url: str, redis_url: str, signing_key: str, user_id: uuid.UUID, seconds: int
) -> str:
    """An access token of `user_id` that expires in `seconds`, signed as auth-api signs."""
    settings = auth_settings(database_url, redis_url, signing_key)
    issuer = AccessTokenIssuer(
        parse_private_key(signing_key.encode()),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        ttl_seconds=seconds,
    )
    return issuer.issue(user_id, uuid7()).token


async def user_id_of(auth_url: str, headers: dict[str, str]) -> uuid.UUID:
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        me = await auth.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, me.text
    return uuid.UUID(me.json()["id"])


async def test_a_revoked_token_closes_the_socket_at_its_next_message(
    chat_url: str, auth_url: str
) -> None:
    user = await new_user(auth_url)
    async with await open_chat(chat_url, user) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        async with httpx.AsyncClient(base_url=auth_url) as auth:
            logout = await auth.post("/api/v1/auth/logout", headers=user)
        assert logout.status_code == 204, logout.text
        await socket.send(json.dumps({"type": "message", "text": "건전지는?"}))
        assert await closed_with(socket) == (4401, "token_revoked")


async def test_a_socket_closes_at_its_token_s_expiry_unless_renewed(
    start_chat: StartChat,
    auth_url: str,
    database_url: str,
    redis_url: str,
    signing_key: str,
) -> None:
    user_id = await user_id_of(auth_url, await new_user(auth_url))
    other_id = await user_id_of(auth_url, await new_user(auth_url))

    def token(seconds: int, who: uuid.UUID = user_id) -> str:
        return short_lived_token(database_url, redis_url, signing_key, who, seconds)

    with start_chat() as url:
        async with await open_chat(url, {"Authorization": f"Bearer {token(2)}"}) as expiring:
            assert json.loads(await expiring.recv())["type"] == "ready"
            assert await closed_with(expiring, 6) == (4401, "token_expired")

        async with await open_chat(url, {"Authorization": f"Bearer {token(2)}"}) as renewed:
            assert json.loads(await renewed.recv())["type"] == "ready"
            await renewed.send(json.dumps({"type": "auth", "token": token(60)}))
            assert json.loads(await renewed.recv())["type"] == "ready"
            await asyncio.sleep(3)  # past the first token's expiry
            await renewed.send(json.dumps({"type": "ping"}))
            assert json.loads(await renewed.recv()) == {"type": "pong"}

        async with await open_chat(url, {"Authorization": f"Bearer {token(60)}"}) as swapped:
            assert json.loads(await swapped.recv())["type"] == "ready"
            await swapped.send(json.dumps({"type": "auth", "token": token(60, other_id)}))
            assert await closed_with(swapped) == (4401, "token_user_changed")


async def test_sockets_are_capped_per_person_and_unauthenticated_ones_per_address(
    start_chat: StartChat, auth_url: str
) -> None:
    user = await new_user(auth_url)
    with start_chat(
        chat_sockets_per_user=2,
        chat_unauthenticated_sockets_per_address=2,
        chat_auth_timeout_seconds=10,
    ) as url:
        first, second = await open_chat(url, user), await open_chat(url, user)
        for socket in (first, second):
            assert json.loads(await socket.recv())["type"] == "ready"
        async with await open_chat(url, user) as third:
            assert await closed_with(third) == (4429, "too_many_sockets")
        await first.close()
        await asyncio.sleep(0.2)
        async with await open_chat(url, user) as again:  # a socket closed frees its place
            assert json.loads(await again.recv())["type"] == "ready"
        await second.close()

        silent = [await open_chat(url, {}), await open_chat(url, {})]
        async with await open_chat(url, {}) as over:
            assert await closed_with(over) == (4429, "too_many_sockets")
        for socket in silent:
            await socket.close()


async def test_a_frame_over_the_size_limit_closes_the_socket_unread(
    database_url: str, redis_url: str, broker_url: str, auth_url: str, tmp_path: Path
) -> None:
    """Through `bunri-chat-api` itself: the limit is the server's (`ws_max_bytes`), applied
    before the application sees a byte."""
    port = free_port()
    env = {
        "BUNRI_CHAT_API_PORT": str(port),
        "BUNRI_STATE_DIR": str(tmp_path / "state"),
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
        "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
    }
    url = f"http://127.0.0.1:{port}"
    with run_process(
        [str(BIN / "bunri-chat-api")],
        env=env,
        ready_url=f"{url}/healthz",
        log_path=tmp_path / "log",
    ):
        async with await open_chat(url, {}) as socket:
            await socket.send("x" * (100 * 1024))
            code, _ = await closed_with(socket)
    assert code == 1009
