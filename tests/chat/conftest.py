"""chat-api under test, all real: uvicorn serving the app on loopback, auth-api issuing tokens, a
local OpenAI-compatible model server (tests/support/fake_llm.py), PostgreSQL and Redis; driven with
a real WebSocket client."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from chat_api.app import create_app
from chat_api.settings import ChatApiSettings
from tests.support.fake_llm import FakeLLM
from tests.support.servers import serve_in_thread


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    with serve_in_thread(fake.app) as url:
        fake.url = f"{url}/v1"
        yield fake


@pytest.fixture
def llm(fake_llm: FakeLLM) -> FakeLLM:
    """The model server, its script reset for this test."""
    from tests.support.fake_llm import Script

    fake_llm.script = Script()
    fake_llm.calls.clear()
    return fake_llm


@contextmanager
def chat_server(
    *, database_url: str, redis_url: str, auth_url: str, broker_url: str, **overrides: Any
) -> Iterator[str]:
    defaults: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "broker_url": broker_url,
        "auth_jwks_url": f"{auth_url}/.well-known/jwks.json",
        "log_json": False,
    }
    settings = ChatApiSettings(**(defaults | overrides))
    with serve_in_thread(create_app(settings)) as url:
        yield url


StartChat = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def start_chat(
    database_url: str,
    redis_url: str,
    auth_url: str,
    broker_url: str,
    llm: FakeLLM,
    clean_database: AsyncEngine,
    redis: Redis,
) -> StartChat:
    """Starts chat-api with some settings changed; it asks the local model unless
    `llm_base_url=None` (then the guides answer)."""

    def start(**overrides: Any) -> AbstractContextManager[str]:
        settings = {"llm_base_url": llm.url, "database_url": database_url} | overrides
        return chat_server(
            redis_url=redis_url, auth_url=auth_url, broker_url=broker_url, **settings
        )

    return start


@pytest.fixture
def chat_url(start_chat: StartChat) -> Iterator[str]:
    with start_chat() as url:
        yield url


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/api/v1/chat/ws"


async def open_chat(
    chat_url: str, headers: dict[str, str] | None, *, receive_buffer: int | None = None
) -> ClientConnection:
    """A WebSocket to chat-api; `receive_buffer` shrinks the client's kernel buffer (a phone on
    a bad network) so that a client that stops reading is felt by the server soon."""
    sock = None
    if receive_buffer is not None:
        host, port = chat_url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((host, int(port)))
    return await connect(
        ws_url(chat_url),
        additional_headers=headers or {},
        open_timeout=10,
        sock=sock,
        max_queue=1,
        # Compressed, repetitive test tokens would shrink to nothing on the wire.
        compression=None,
    )


async def frames_until(
    socket: ClientConnection, last: str = "done", limit: int = 10_000
) -> list[dict[str, Any]]:
    """Frames received up to and including the first of type `last` (or an `error`)."""
    received = []
    for _ in range(limit):
        frame = json.loads(await socket.recv())
        received.append(frame)
        if frame["type"] in (last, "error"):
            return received
    raise AssertionError("no end frame")


async def ask(socket: ClientConnection, text: str, **fields: Any) -> list[dict[str, Any]]:
    await socket.send(json.dumps({"type": "message", "text": text, **fields}))
    return await frames_until(socket)
