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

from bunri.logging import get_logger
from chat_api.grounding import Source
from chat_api.prompts import Prompt, model_messages
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
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "unused"
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=key,
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


def compose_from_guides(sources: list[Source], english: bool) -> str:
    if not sources:
        if english:
            return (
                "I have no disposal guide for that question. Ask about an item by name "
                "(a PET bottle, a milk carton, a battery ...) and I will tell you how it goes out."
            )
        return (
            "이 질문에 맞는 분리배출 안내를 찾지 못했어요. 물건 이름(페트병, 종이팩, 건전지 등)을 "
            "넣어 다시 물어봐 주세요."
        )
    parts = []
    for source in sources:
        guide = source.guide
        if english:
            parts.append(f"{guide.title.en} ({source.middle.name_en}):")
            parts += [f"{n}. {step.en}" for n, step in enumerate(guide.steps, 1)]
            parts += [f"Note: {caution.en}" for caution in guide.cautions]
            parts += [f"Not this way: {item.en}" for item in guide.not_accepted]
            parts.append(f"(Source: the {source.middle.name_en} disposal guide)")
        else:
            parts.append(f"{guide.title.ko} ({source.middle.name}):")
            parts += [f"{n}. {step.ko}" for n, step in enumerate(guide.steps, 1)]
            parts += [f"주의: {caution.ko}" for caution in guide.cautions]
            parts += [f"해당하지 않아요: {item.ko}" for item in guide.not_accepted]
            parts.append(f"(출처: {source.middle.name} 분리배출 안내)")
    return "\n".join(parts)


def create_responder(settings: ChatApiSettings) -> Responder:
    if settings.llm_base_url:
        return OpenAIResponder(settings)
    return GuideResponder()
