"""Who writes an answer: an OpenAI-compatible model through the official SDK, streaming, or (with
no model configured) the guide-only responder, which composes the answer from the guides. Both
stream the same way: text deltas, then how it finished."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import aiohttp
import httpx2
import openai
import orjson

from bunri.chat.compose import compose_from_guides
from bunri.chat.prompts import Prompt, model_messages
from bunri.logging import get_logger
from chat_api.settings import ChatApiSettings

log = get_logger(__name__)

DRAIN_SECONDS = 0.1  # the wait for the body's end after `[DONE]`, as the SDK's own streams wait


@dataclass(frozen=True, slots=True)
class Delta:
    text: str


@dataclass(frozen=True, slots=True)
class Finished:
    finish_reason: str
    usage: dict[str, Any] | None = field(default=None)


class UpstreamError(Exception):
    """The model could not be reached, refused, or broke off mid-answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Responder(Protocol):
    name: str

    def stream(self, prompt: Prompt) -> AsyncIterator[Delta | Finished]: ...


class OpenAIResponder:
    name = "openai"

    def __init__(self, settings: ChatApiSettings) -> None:
        self._settings = settings
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_key,
            timeout=openai.Timeout(
                settings.llm_read_timeout_seconds, connect=settings.llm_connect_timeout_seconds
            ),
            # The SDK would also retry 429s and 5xx, while the person waits: retries are ours,
            # on connection failures only, before the first token.
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(
                limits=httpx2.Limits(
                    max_connections=settings.llm_max_connections,
                    max_keepalive_connections=settings.llm_max_connections,
                )
            ),
        )

    async def close(self) -> None:
        await self._client.close()

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta | Finished]:
        # Leaving this block, also on cancel, closes the response: the upstream request ends.
        async with contextlib.AsyncExitStack() as stack:
            response = await self._open(prompt, stack)
            body = body_chunks(response)
            events = CompletionEvents()
            try:
                async for chunk in body:
                    for text in events.feed(chunk):
                        yield Delta(text)
                    if events.done:
                        break
            except UpstreamError:
                raise
            except Exception as exc:  # the transport's error types depend on the SDK's backend
                raise UpstreamError(
                    "upstream_failed", "The model stopped answering midway."
                ) from exc
            if events.done:
                await _drain(body)
        yield Finished(events.finish_reason, events.usage)

    async def _open(self, prompt: Prompt, stack: contextlib.AsyncExitStack) -> Any:
        attempts = self._settings.llm_connect_retries + 1
        for attempt in range(attempts):
            request = self._client.chat.completions.with_streaming_response.create(
                model=self._settings.llm_model,
                messages=[],
                # The body goes verbatim, as the documented `extra_body`: it is plain JSON
                # already, and the SDK's type-directed walk over its parameters costs more CPU
                # than a question's database work (0.5 ms a message, 0.2 ms for the rest).
                extra_body={
                    "messages": model_messages(prompt),
                    "stream": True,
                    "stream_options": {"include_usage": True},
                    "max_tokens": self._settings.llm_max_tokens,
                },
            )
            try:
                return await stack.enter_async_context(request)
            except openai.APIConnectionError as exc:  # a timeout is one too
                if not _before_sending(exc) or attempt + 1 == attempts:
                    raise _unreachable(exc) from exc
                log.warning(
                    "model unreachable; retrying",
                    attempt=attempt + 1,
                    cause=repr(exc.__cause__ or exc),
                )
                await asyncio.sleep(0.2 * 2**attempt)
            except openai.APIStatusError as exc:
                raise UpstreamError(
                    "upstream_refused", f"The model refused the request ({exc.status_code})."
                ) from exc
        raise AssertionError("unreachable")


def _before_sending(error: openai.APIConnectionError) -> bool:
    """Whether the request failed before the model could have read it: no connection, or a
    kept-alive one the server had just closed (aiohttp reports that as a connect timeout).
    Only then is asking again safe and quick."""
    return not isinstance(error, openai.APITimeoutError) or isinstance(
        error.__cause__, httpx2.ConnectTimeout
    )


def _unreachable(error: openai.APIConnectionError) -> UpstreamError:
    log.warning("model unreachable", cause=repr(error.__cause__ or error))
    if _before_sending(error):
        return UpstreamError("upstream_unavailable", "The model cannot be reached right now.")
    return UpstreamError("upstream_timeout", "The model took too long.")


def body_chunks(response: Any) -> AsyncIterator[bytes]:
    """The streamed body's bytes as they arrive. The SDK sends the request (auth, headers,
    errors); the body is read beneath it, from aiohttp, where its transport is aiohttp's and the
    body is not compressed: the SDK's and httpx's layers above aiohttp cost about 6 µs a token, a
    tenth of what reading a token costs in all. Anything else, a changed SDK included, is read
    through the SDK (tests/chat/test_responders.py notices the change)."""
    http_response = response.http_response
    transport_stream = getattr(http_response.stream, "_stream", None)
    aiohttp_response = getattr(transport_stream, "_aiohttp_response", None)
    encoded = http_response.headers.get("content-encoding", "identity") != "identity"
    if isinstance(aiohttp_response, aiohttp.ClientResponse) and not encoded:
        return aiohttp_response.content.iter_any()
    return cast(AsyncIterator[bytes], response.iter_bytes())


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Reads what follows `[DONE]`, the end of the chunked body: a response read to its end
    leaves its connection (and TLS session) for the next question; one cut short is closed. A
    server slow to end it costs the connection, not the answer: the answer is complete, and
    nothing that happens here may turn it into an error."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in body:
                pass


class CompletionEvents:
    """The Chat Completions chunks in a server-sent event stream, parsed as its bytes arrive:
    the text deltas, how the answer finished, its usage, and whether `[DONE]` has come."""

    def __init__(self) -> None:
        self.done = False
        self.finish_reason = "stop"
        self.usage: dict[str, Any] | None = None
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        """The text deltas in this piece of the body (an event may span pieces)."""
        lines = (self._pending + chunk).split(b"\n") if self._pending else chunk.split(b"\n")
        self._pending = lines.pop()
        texts: list[str] = []
        for line in lines:
            if not line.startswith(b"data:") or self.done:
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                self.done = True
                continue
            event = _json_object(data)
            if event is None:
                continue
            if event.get("error"):
                raise UpstreamError("upstream_failed", "The model reported an error.")
            self.usage = event.get("usage") or self.usage
            for choice in event.get("choices") or ():  # a usage chunk has none
                text = (choice.get("delta") or {}).get("content")
                if text:
                    texts.append(text)
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return texts


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class GuideResponder:
    """Answers from the guides alone, and says plainly when it has none for the question."""

    name = "guides"

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta | Finished]:
        for piece in re.findall(r"\S+\s*", compose_from_guides(prompt.sources, prompt.english)):
            yield Delta(piece)
            await asyncio.sleep(0)  # other connections stream meanwhile
        yield Finished("stop")


def create_responder(settings: ChatApiSettings) -> Responder:
    if settings.llm_base_url:
        return OpenAIResponder(settings)
    return GuideResponder()
