"""The model's streamed answer as chat-api reads it: the events parsed from the bytes as they
arrive, the body read beneath the SDK, and each response read to its end so that the next
question reuses the connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from bunri.chat.prompts import Prompt
from chat_api.responders import (
    CompletionEvents,
    Delta,
    Finished,
    OpenAIResponder,
    UpstreamError,
    body_chunks,
)
from chat_api.settings import ChatApiSettings
from tests.support.fake_llm import FakeLLM, Script

QUESTION = Prompt("페트병 라벨은 어떻게 하나요?", [])


def _event(payload: object) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def _token(text: str, finish_reason: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    return _event({"choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})


def test_events_are_parsed_as_their_bytes_arrive_in_any_pieces() -> None:
    body = (
        b": a comment line\n\n"
        + _token("라벨을 ")
        + _token("떼어 ")
        + b"data: not json\n\n"
        + _token("", "stop")
        + _event({"choices": [], "usage": {"total_tokens": 12}})
        + b"data: [DONE]\n\n"
        + _token("after the end")
    )
    for size in (1, 7, len(body)):
        events = CompletionEvents()
        texts = [
            text
            for start in range(0, len(body), size)
            for text in events.feed(body[start : start + size])
        ]
        assert texts == ["라벨을 ", "떼어 "]
        assert events.done
        assert (events.finish_reason, events.usage) == ("stop", {"total_tokens": 12})


def test_an_error_event_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError) as raised:
        CompletionEvents().feed(_event({"error": {"message": "overloaded"}}))
    assert raised.value.code == "upstream_failed"


@pytest.fixture
async def responder(llm: FakeLLM) -> AsyncIterator[OpenAIResponder]:
    responder = OpenAIResponder(ChatApiSettings(llm_base_url=llm.url))
    yield responder
    await responder.close()


async def test_the_body_is_read_from_aiohttp_beneath_the_sdk(
    responder: OpenAIResponder, llm: FakeLLM
) -> None:
    # Reading beneath the SDK relies on how its aiohttp client holds the response. If an SDK
    # upgrade changes that, the SDK's own (slower) iterator is used, and this test says so.
    async with contextlib.AsyncExitStack() as stack:
        response = await responder._open(QUESTION, stack)
        chunks = body_chunks(response)
        assert isinstance(chunks, aiohttp.streams.AsyncStreamIterator)
        assert b"[DONE]" in b"".join([chunk async for chunk in chunks])


async def test_answers_reuse_one_connection_to_the_model(
    responder: OpenAIResponder, llm: FakeLLM
) -> None:
    llm.script = Script(tokens=["종이 ", "상자"], seconds_after_done=0.02)
    for _ in range(5):
        items = [item async for item in responder.stream(QUESTION)]
        assert [item.text for item in items if isinstance(item, Delta)] == ["종이 ", "상자"]
        assert items[-1] == Finished(
            "stop", {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
        )
    # A response left before its body's end would have closed its connection.
    assert len({call.client_port for call in llm.calls}) == 1
