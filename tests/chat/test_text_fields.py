"""A control character in a batch question is a 422 `invalid_text` (bunri.web.text), not a 500
from PostgreSQL; a question in paragraphs is taken. On the WebSocket, the same text is an
`invalid_text` error frame (a bad `client_msg_id` a `bad_frame`), and the socket lives on."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.chat import frames_until, open_chat

BATCH = "/api/v1/chat/batch"


@pytest.mark.parametrize("text", ["페트병은\x00?", "a\x1bb", "\u202e페트병"])
async def test_a_control_character_in_a_batch_question_is_invalid_text(
    chat_url: str, user: dict[str, str], text: str
) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        response = await client.post(BATCH, headers=user, json={"text": text})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_text"
    assert "'text'" in error["message"]


async def test_a_question_in_paragraphs_is_taken(chat_url: str, user: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=chat_url) as client:
        response = await client.post(
            BATCH, headers=user, json={"text": "페트병은 어떻게 버려요?\n\t라벨은요?"}
        )
    assert response.status_code == 202, response.text


async def test_a_control_character_on_the_socket_is_an_error_frame(
    chat_url: str, user: dict[str, str]
) -> None:
    async with await open_chat(chat_url, user) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        for frame, code in [
            ({"type": "message", "text": "페트병은\x00?"}, "invalid_text"),
            ({"type": "message", "text": "\u202e페트병"}, "invalid_text"),
            ({"type": "message", "text": "페트병", "client_msg_id": "a\x00b"}, "bad_frame"),
        ]:
            await socket.send(json.dumps(frame))
            error = (await frames_until(socket))[-1]
            assert (error["type"], error["code"]) == ("error", code)
        await socket.send(json.dumps({"type": "ping"}))
        assert json.loads(await socket.recv()) == {"type": "pong"}
