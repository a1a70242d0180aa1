"""Who writes an answer: an OpenAI-compatible model through the official SDK, streaming, or (with
no model configured) the guide-only responder, which composes the answer from the guides. Both
stream the same way: that the answer is underway, text deltas, then how it finished."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx2
import openai

from bunri.chat.compose import compose_from_guides
from bunri.chat.prompts import Prompt, model_messages
from bunri.logging import get_logger
from chat_api.settings import ChatApiSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Underway:
    """The model has taken the request and is writing: what follows is its tokens."""


UNDERWAY = Underway()


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

    def stream(self, prompt: Prompt) -> AsyncIterator[Underway | Delta | Finished]: ...


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

    async def stream(self, prompt: Prompt) -> AsyncIterator[Underway | Delta | Finished]:
        finish_reason = "stop"
        usage: dict[str, Any] | None = None
        # Leaving this block, also on cancel, closes the response: the upstream request ends.
        async with contextlib.AsyncExitStack() as stack:
            response = await self._open(prompt, stack)
            yield UNDERWAY
            try:
                # The SDK sends the request (auth, headers, errors); the events are read here,
                # as bytes of plain JSON: the SDK's text decoding, line splitting and a typed
                # object per token cost more than the token.
                async for data in _sse_data(response.iter_bytes()):
                    if data == b"[DONE]":
                        break
                    chunk = _json_object(data)
                    if chunk is None:
                        continue
                    if chunk.get("error"):
                        raise UpstreamError("upstream_failed", "The model reported an error.")
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or ():  # a usage chunk has none
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield Delta(text)
                        finish_reason = choice.get("finish_reason") or finish_reason
            except UpstreamError:
                raise
            except Exception as exc:  # the transport's error types depend on the SDK's backend
                raise UpstreamError(
                    "upstream_failed", "The model stopped answering midway."
                ) from exc
        yield Finished(finish_reason, usage)

    async def _open(self, prompt: Prompt, stack: contextlib.AsyncExitStack) -> Any:
        attempts = self._settings.llm_connect_retries + 1
        for attempt in range(attempts):
            request = self._client.chat.completions.with_streaming_response.create(
                model=self._settings.llm_model,
                # The messages go verbatim, as the documented `extra_body`: they are plain JSON
                # already, and the SDK's type-directed walk over them costs 0.5 ms of CPU per
                # message, more than all the answer's tokens.
                messages=[],
                extra_body={"messages": model_messages(prompt)},
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=self._settings.llm_max_tokens,
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


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The `data:` fields of a server-sent event stream, one per line as the API sends them."""
    pending = b""
    async for chunk in chunks:
        lines = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
        pending = lines.pop()
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class GuideResponder:
    """Answers from the guides alone, and says plainly when it has none for the question."""

    name = "guides"

    async def stream(self, prompt: Prompt) -> AsyncIterator[Underway | Delta | Finished]:
        yield UNDERWAY
        for piece in re.findall(r"\S+\s*", compose_from_guides(prompt.sources, prompt.english)):
            yield Delta(piece)
            await asyncio.sleep(0)  # other connections stream meanwhile
        yield Finished("stop")


def create_responder(settings: ChatApiSettings) -> Responder:
    if settings.llm_base_url:
        return OpenAIResponder(settings)
    return GuideResponder()
