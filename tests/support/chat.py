"""Talking to chat-api in tests: serving it with some settings, and a WebSocket client of it that
holds every frame the server sends to the documented contract."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection, connect

from chat_api.app import create_app
from chat_api.frames import ChatServerFrame
from chat_api.settings import ChatApiSettings
from tests.support.servers import serve_in_thread

SERVER_FRAME: TypeAdapter[Any] = TypeAdapter(ChatServerFrame)


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


# What the `start_chat` fixture gives: starts chat-api with some settings changed.
StartChat = Callable[..., AbstractContextManager[str]]


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/api/v1/chat/ws"


class CheckedConnection(ClientConnection):
    """A client connection that holds every text frame the server sends to the documented
    contract (`ChatServerFrame`, in the OpenAPI): a frame it does not describe fails the test."""

    async def recv(self, decode: bool | None = None) -> Any:
        frame = await super().recv(decode)
        if isinstance(frame, str):
            parsed = json.loads(frame)
            model = type(SERVER_FRAME.validate_python(parsed))
            assert set(parsed) <= set(model.model_fields), (parsed, model.__name__)
        return frame


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
        create_connection=CheckedConnection,
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
