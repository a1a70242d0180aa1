"""The chat WebSocket's frames (DESIGN.md section 7): JSON objects told apart by `type`.

The client sends `auth` (unless the handshake carried a bearer token), then `message`, `cancel`
and `ping`; the server sends `ready`, `pong`, and each answer as `start`, `delta`…, `done`, or an
`error`. The OpenAPI carries these as `ChatClientFrame` and `ChatServerFrame`. The server builds
its frames as plain dicts (a `delta` per token is the hottest line of the service); the tests
read every frame they receive through `ChatServerFrame`.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, Field

MAX_CLIENT_MSG_ID_CHARS = 64


class GuideSource(BaseModel):
    """A disposal guide an answer is grounded in (and cites)."""

    major: str
    middle: str
    title: str
    title_en: str


class AuthFrame(BaseModel):
    type: Literal["auth"]
    token: str


class MessageFrame(BaseModel):
    type: Literal["message"]
    text: str = Field(
        min_length=1,
        description="The question, not blank; at most `BUNRI_CHAT_MAX_QUESTION_CHARS` (the "
        "server's setting) characters.",
    )
    conversation_id: uuid.UUID | None = Field(
        default=None, description="Continue this conversation; a new one starts without it."
    )
    scan_id: uuid.UUID | None = Field(default=None, description="Ask about this scan of yours.")
    client_msg_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CLIENT_MSG_ID_CHARS,
        description="Sent again after a reconnect, the stored answer is replayed, not asked anew.",
    )


class CancelFrame(BaseModel):
    type: Literal["cancel"]


class PingFrame(BaseModel):
    type: Literal["ping"]


ChatClientFrame = Annotated[
    AuthFrame | MessageFrame | CancelFrame | PingFrame, Field(discriminator="type")
]


class ReadyFrame(BaseModel):
    type: Literal["ready"]
    user_id: uuid.UUID


class PongFrame(BaseModel):
    type: Literal["pong"]


class StartFrame(BaseModel):
    type: Literal["start"]
    conversation_id: uuid.UUID
    message_id: uuid.UUID


class DeltaFrame(BaseModel):
    type: Literal["delta"]
    message_id: uuid.UUID
    seq: int = Field(ge=1, description="1, 2, 3… within the answer.")
    text: str


class DoneFrame(BaseModel):
    type: Literal["done"]
    message_id: uuid.UUID
    finish_reason: str = Field(description="`stop`, `length`, `cancelled`…, as the model said.")
    usage: dict[str, Any] | None = Field(description="Token counts, when the model reports them.")
    sources: list[GuideSource]
    replayed: bool = Field(
        default=False, description="True when a resent question's stored answer was replayed."
    )


class ErrorFrame(BaseModel):
    type: Literal["error"]
    code: str
    message: str
    message_id: uuid.UUID | None = Field(
        default=None, description="The answer that ended with this error, if one had started."
    )
    retry_after: int | None = Field(default=None, description="Seconds, on `rate_limited`.")


ChatServerFrame = Annotated[
    ReadyFrame | PongFrame | StartFrame | DeltaFrame | DoneFrame | ErrorFrame,
    Field(discriminator="type"),
]

FRAME_SCHEMAS: dict[str, Any] = {
    "ChatClientFrame": ChatClientFrame,
    "ChatServerFrame": ChatServerFrame,
}


def ready(user_id: uuid.UUID) -> dict[str, Any]:
    return {"type": "ready", "user_id": str(user_id)}


PONG: dict[str, Any] = {"type": "pong"}


def error(
    code: str, message: str, *, message_id: str | None = None, retry_after: int | None = None
) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if message_id is not None:
        frame["message_id"] = message_id
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


def start(conversation_id: uuid.UUID, message_id: str) -> dict[str, Any]:
    return {"type": "start", "conversation_id": str(conversation_id), "message_id": message_id}


def delta(message_id: str, seq: int, text: str) -> str:
    """Serialised already: written out rather than dumped from a dict, as it goes once a token."""
    return (
        f'{{"type":"delta","message_id":"{message_id}","seq":{seq},'
        f'"text":{orjson.dumps(text).decode()}}}'
    )


def done(
    message_id: str,
    finish_reason: str,
    usage: dict[str, Any] | None,
    sources: list[dict[str, Any]],
    *,
    replayed: bool = False,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "done",
        "message_id": message_id,
        "finish_reason": finish_reason,
        "usage": usage,
        "sources": sources,
    }
    if replayed:
        frame["replayed"] = True
    return frame
