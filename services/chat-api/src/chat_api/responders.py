"""Who writes an answer: an OpenAI-compatible model through the official SDK, streaming, or (with
no model configured) the guide-only responder, which composes the answer from the guides. Both
stream the same way: text deltas, then how it finished."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai

from bunri.chat.compose import compose_from_guides
from bunri.chat.prompts import Prompt, model_messages
from bunri.logging import get_logger
from chat_api.settings import ChatApiSettings

log = get_logger(__name__)


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
        )

    async def close(self) -> None:
        await self._client.close()

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta | Finished]:
        finish_reason = "stop"
        usage: dict[str, Any] | None = None
        # Leaving this block, also on cancel, closes the response: the upstream request ends.
        async with contextlib.AsyncExitStack() as stack:
            response = await self._open(prompt, stack)
            try:
                # The SDK sends the request (auth, headers, errors); the event lines are read
                # here, as plain JSON: a typed object per token costs more than the token.
                async for line in response.iter_lines():
                    chunk = _chunk_of(line)
                    if chunk is None:
                        continue
                    if chunk is _END:
                        break
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
                messages=model_messages(prompt),
                stream=True,
                stream_options={"include_usage": True},
                max_tokens=self._settings.llm_max_tokens,
            )
            try:
                return await stack.enter_async_context(request)
            except openai.APITimeoutError as exc:
                raise UpstreamError("upstream_timeout", "The model took too long.") from exc
            except openai.APIConnectionError as exc:
                if attempt + 1 == attempts:
                    raise UpstreamError(
                        "upstream_unavailable", "The model cannot be reached right now."
                    ) from exc
                log.warning("model unreachable; retrying", attempt=attempt + 1)
                await asyncio.sleep(0.2 * 2**attempt)
            except openai.APIStatusError as exc:
                raise UpstreamError(
                    "upstream_refused", f"The model refused the request ({exc.status_code})."
                ) from exc
        raise AssertionError("unreachable")


_END: dict[str, Any] = {}


def _chunk_of(line: str) -> dict[str, Any] | None:
    """A server-sent event line's chunk; `_END` for `[DONE]`; None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _END
    try:
        chunk = json.loads(data)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


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
