"""One answer, from the question to the saved reply: record the question (opening its
conversation), ground it in the guides, compose the prompt, stream the model's tokens as
`start`, `delta`…, `done`, and save what was said however the answer ends (complete, cancelled
by the person, failed upstream). A question sent again after a reconnect replays its stored
answer instead of asking the model twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from bunri.chat.grounding import Source
from bunri.chat.prompts import Prompt
from bunri.db.models import AnswerState
from bunri.errors import BunriError, DependencyUnavailable
from bunri.logging import get_logger
from bunri.web.errors import DEPENDENCY_OUTAGES
from chat_api import frames
from chat_api.conversations import Question, Turn
from chat_api.deps import ChatDependencies
from chat_api.responders import Delta, Finished, UpstreamError

log = get_logger(__name__)


class FrameSink(Protocol):
    """Where an answer's frames go, in order (the connection, which owns the socket)."""

    async def send(self, frame: dict[str, Any]) -> None: ...

    async def send_text(self, frame: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StartedAnswer:
    """An answer whose question is recorded and whose prompt is composed, its `start` sent."""

    turn: Turn
    prompt: Prompt
    sources: list[dict[str, Any]]
    message_id: str


class Answering:
    def __init__(self, dependencies: ChatDependencies, out: FrameSink) -> None:
        self._deps = dependencies
        self._out = out

    async def answer(self, question: Question) -> None:
        """Answer the question to the end: streamed, cancelled, failed upstream, or an error
        frame; whatever was said is saved."""
        try:
            async with self._deps.starts:
                started = await self._start_answer(question)
            if started is not None:
                await self._stream_answer(started)
        except Exception:
            # A bug still ends the answer for the person, with an error frame.
            log.exception("answer failed")
            await self._out.send(
                frames.error("internal_error", "Something went wrong on our side.")
            )

    async def _start_answer(self, question: Question) -> StartedAnswer | None:
        """Records the question, finds its guides and composes the prompt; None when the answer
        ended here instead (an error frame, or a resent question's stored answer replayed)."""
        try:
            turn = await self._deps.store.open_turn(question)
        except BunriError as exc:
            await self._out.send(frames.error(exc.code, exc.message))
            return None
        except DEPENDENCY_OUTAGES as exc:
            # Without this frame the person would wait for an answer that never starts.
            log.warning("question not recorded", error=repr(exc))
            await self._out.send(
                frames.error(DependencyUnavailable.code, DependencyUnavailable.message)
            )
            return None
        if turn.earlier_answer is not None:
            await self._replay(turn)
            return None
        sources = self._sources(question, turn)
        prompt = Prompt(question.text, sources, turn.history, turn.scan_result)
        started = StartedAnswer(
            turn, prompt, [source.as_api() for source in sources], str(turn.answer_id)
        )
        await self._out.send(frames.start(turn.conversation_id, started.message_id))
        return started

    async def _stream_answer(self, answer: StartedAnswer) -> None:
        message_id, sources = answer.message_id, answer.sources
        said: list[str] = []
        try:
            finished = Finished("stop")
            async for item in self._deps.responder.stream(answer.prompt):
                if isinstance(item, Delta):
                    said.append(item.text)
                    await self._out.send_text(frames.delta(message_id, len(said), item.text))
                else:
                    finished = item
        except UpstreamError as exc:
            await self._save(answer.turn, said, AnswerState.FAILED, sources, error_code=exc.code)
            await self._out.send(frames.error(exc.code, exc.message, message_id=message_id))
            return
        except asyncio.CancelledError:
            # `cancel`, or the client left: keep what was said, marked as cut short.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            await self._save(answer.turn, said, AnswerState.CANCELLED, sources)
            await self._out.send(frames.done(message_id, "cancelled", None, sources))
            return
        await self._save(answer.turn, said, AnswerState.COMPLETE, sources, usage=finished.usage)
        await self._out.send(
            frames.done(message_id, finished.finish_reason, finished.usage, sources)
        )

    def _sources(self, question: Question, turn: Turn) -> list[Source]:
        source = self._deps.guides.for_result(turn.scan_result)
        return [source] if source is not None else self._deps.guides.search(question.text)

    async def _replay(self, turn: Turn) -> None:
        answer = turn.earlier_answer
        assert answer is not None
        message_id = str(answer.id)
        await self._out.send(frames.start(turn.conversation_id, message_id))
        if answer.text:
            await self._out.send_text(frames.delta(message_id, 1, answer.text))
        finish = "stop" if answer.state is AnswerState.COMPLETE else answer.state.value
        await self._out.send(
            frames.done(message_id, finish, answer.usage, answer.sources or [], replayed=True)
        )

    async def _save(
        self,
        turn: Turn,
        said: list[str],
        state: AnswerState,
        sources: list[dict[str, Any]],
        **extra: Any,
    ) -> None:
        try:
            await self._deps.store.save_answer(
                turn, "".join(said), state=state, sources=sources, **extra
            )
        except Exception:
            log.exception("answer not saved", conversation_id=str(turn.conversation_id))
