"""One chat WebSocket (DESIGN.md section 7): authenticate, then take `message`, `cancel` and `ping`
frames and stream each answer as `start`, `delta`…, `done`.

Frames are sent by the task that makes them, one at a time and in order: a token goes from the
model's response to the client's socket without waiting for another task's turn on the event
loop. Sending waits while the client's socket buffers are full, so the server never buffers
without bound; a client that takes no frame for `chat_send_timeout_seconds` has stopped reading
and is disconnected. At most one answer streams per connection; cancelling it (or disconnecting)
ends the upstream request at once and keeps what was said so far, marked as cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bunri.auth import AccessClaims, TokenVerifier
from bunri.chat.grounding import GuideIndex, Source
from bunri.chat.prompts import Prompt
from bunri.db.models import AnswerState
from bunri.errors import BunriError, DependencyUnavailable
from bunri.logging import get_logger
from bunri.ratelimit import FixedWindowLimiter
from bunri.web.errors import DEPENDENCY_OUTAGES
from chat_api.conversations import ConversationStore, Question, Turn
from chat_api.responders import Delta, Finished, Responder, UpstreamError
from chat_api.settings import ChatApiSettings

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4408  # the client stopped reading: a frame waited too long for it
SEND_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class ChatDependencies:
    settings: ChatApiSettings
    verifier: TokenVerifier
    store: ConversationStore
    responder: Responder
    limiter: FixedWindowLimiter
    guides: GuideIndex
    # Answers being started at once in this process (`chat_concurrent_starts`). Starting one
    # costs milliseconds of CPU in a few long steps (the database, the grounding, the prompt);
    # streaming a token, microseconds: a wave of questions would otherwise hold up every running
    # answer's next tokens. The request to the model goes after the turn: waiting for the model
    # costs nothing here, and a turn held through it would cap how fast answers can start.
    starts: asyncio.Semaphore


@dataclass(frozen=True, slots=True)
class StartedAnswer:
    """An answer whose question is recorded and whose prompt is composed, its `start` sent."""

    turn: Turn
    prompt: Prompt
    sources: list[dict[str, Any]]
    message_id: str


class FrameError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatConnection:
    def __init__(self, websocket: WebSocket, dependencies: ChatDependencies) -> None:
        self._ws = websocket
        self._deps = dependencies
        self._settings = dependencies.settings
        self._loop = asyncio.get_running_loop()
        self._sending = asyncio.Lock()
        self._send_started: float | None = None  # when the frame being sent was handed over
        self._send_check: asyncio.TimerHandle | None = None
        self._closer: asyncio.Task[None] | None = None
        self._answer: asyncio.Task[None] | None = None
        self._closing = False

    async def serve(self) -> None:
        await self._ws.accept()
        user = await self._authenticate()
        if user is None:
            return
        self._check_sending()
        try:
            await self.send({"type": "ready", "user_id": str(user.user_id)})
            await self._read_frames(user)
        except WebSocketDisconnect:
            pass
        finally:
            self._closing = True
            if self._send_check is not None:
                self._send_check.cancel()
            if self._answer is not None and not self._answer.done():
                self._answer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._answer

    # -- in ----------------------------------------------------------------------------------

    async def _authenticate(self) -> AccessClaims | None:
        """The handshake's Authorization header, or a first `auth` frame within the timeout."""
        header = self._ws.headers.get("authorization", "")
        token = header.partition(" ")[2].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            try:
                raw = await asyncio.wait_for(
                    self._receive_text(), self._settings.chat_auth_timeout_seconds
                )
                frame = orjson.loads(raw)
                token = str(frame.get("token", "")) if frame.get("type") == "auth" else ""
            except (TimeoutError, ValueError, TypeError, AttributeError, WebSocketDisconnect):
                token = ""
        try:
            if not token:
                raise FrameError("token_missing", "Authenticate first: a bearer token is needed.")
            return await self._deps.verifier.verify(token)
        except (BunriError, FrameError) as exc:
            code = getattr(exc, "code", "token_invalid")
            await self._close(CLOSE_UNAUTHORIZED, code)
            return None

    async def _read_frames(self, user: AccessClaims) -> None:
        while not self._closing:
            raw = await self._receive_text()
            try:
                frame = orjson.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError("not an object")
            except ValueError:
                await self.send(_error("bad_frame", "Frames are JSON objects with a `type`."))
                continue
            kind = frame.get("type")
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "cancel":
                if self._answer is not None and not self._answer.done():
                    self._answer.cancel()
            elif kind == "message":
                await self._on_message(user, frame)
            else:
                await self.send(_error("bad_frame", f"Unknown frame type {kind!r}."))

    async def _receive_text(self) -> str:
        """The next frame's text ("" for a binary frame, which no protocol frame is);
        WebSocketDisconnect at the end."""
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return str(message.get("text") or "")

    async def _on_message(self, user: AccessClaims, frame: dict[str, Any]) -> None:
        if self._answer is not None and not self._answer.done():
            await self.send(_error("busy", "An answer is still streaming; cancel it or wait."))
            return
        try:
            question = self._question(user, frame)
        except FrameError as exc:
            await self.send(_error(exc.code, exc.message))
            return
        try:
            usage = await self._deps.limiter.hit(str(user.user_id))
        except DEPENDENCY_OUTAGES as exc:
            log.warning("rate limit not checked", error=repr(exc))
            await self.send(_error(DependencyUnavailable.code, DependencyUnavailable.message))
            return
        if usage.exceeded:
            await self.send(
                _error("rate_limited", "Too many questions; wait a little.")
                | {"retry_after": usage.retry_after_seconds}
            )
            return
        self._answer = asyncio.create_task(self._answer_question(question))

    def _question(self, user: AccessClaims, frame: dict[str, Any]) -> Question:
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("empty_message", "A message needs some text.")
        if len(text) > self._settings.chat_max_question_chars:
            raise FrameError(
                "message_too_long",
                f"A message holds at most {self._settings.chat_max_question_chars} characters.",
            )
        client_msg_id = frame.get("client_msg_id")
        if client_msg_id is not None and (
            not isinstance(client_msg_id, str) or not 0 < len(client_msg_id) <= 64
        ):
            raise FrameError("bad_frame", "client_msg_id is a string of 1 to 64 characters.")
        return Question(
            user_id=user.user_id,
            text=text.strip(),
            conversation_id=_uuid(frame.get("conversation_id"), "conversation_id"),
            scan_id=_uuid(frame.get("scan_id"), "scan_id"),
            client_msg_id=client_msg_id,
        )

    # -- an answer ---------------------------------------------------------------------------

    async def _answer_question(self, question: Question) -> None:
        try:
            async with self._deps.starts:
                started = await self._start_answer(question)
            if started is not None:
                await self._stream_answer(started)
        except Exception:
            # A bug still ends the answer for the person, with an error frame.
            log.exception("answer failed")
            await self.send(_error("internal_error", "Something went wrong on our side."))

    async def _start_answer(self, question: Question) -> StartedAnswer | None:
        """Records the question, finds its guides and composes the prompt; None when the answer
        ended here instead (an error frame, or a resent question's stored answer replayed)."""
        try:
            turn = await self._deps.store.open_turn(question)
        except BunriError as exc:
            await self.send(_error(exc.code, exc.message))
            return None
        except DEPENDENCY_OUTAGES as exc:
            # Without this frame the person would wait for an answer that never starts.
            log.warning("question not recorded", error=repr(exc))
            await self.send(_error(DependencyUnavailable.code, DependencyUnavailable.message))
            return None
        if turn.earlier_answer is not None:
            await self._replay(turn)
            return None
        sources = self._sources(question, turn)
        prompt = Prompt(question.text, sources, turn.history, turn.scan_result)
        started = StartedAnswer(
            turn, prompt, [source.as_api() for source in sources], str(turn.answer_id)
        )
        await self.send(_start(turn.conversation_id, started.message_id))
        return started

    async def _stream_answer(self, answer: StartedAnswer) -> None:
        message_id, sources = answer.message_id, answer.sources
        said: list[str] = []
        try:
            finished = Finished("stop")
            async for item in self._deps.responder.stream(answer.prompt):
                if isinstance(item, Delta):
                    said.append(item.text)
                    await self.send_text(_delta(message_id, len(said), item.text))
                else:
                    finished = item
        except UpstreamError as exc:
            await self._save(answer.turn, said, AnswerState.FAILED, sources, error_code=exc.code)
            await self.send(_error(exc.code, exc.message) | {"message_id": message_id})
            return
        except asyncio.CancelledError:
            # `cancel`, or the client left: keep what was said, marked as cut short.
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            await self._save(answer.turn, said, AnswerState.CANCELLED, sources)
            await self.send(_done(message_id, "cancelled", None, sources))
            return
        await self._save(answer.turn, said, AnswerState.COMPLETE, sources, usage=finished.usage)
        await self.send(_done(message_id, finished.finish_reason, finished.usage, sources))

    def _sources(self, question: Question, turn: Turn) -> list[Source]:
        source = self._deps.guides.for_result(turn.scan_result)
        return [source] if source is not None else self._deps.guides.search(question.text)

    async def _replay(self, turn: Turn) -> None:
        answer = turn.earlier_answer
        assert answer is not None
        message_id = str(answer.id)
        await self.send(_start(turn.conversation_id, message_id))
        if answer.text:
            await self.send_text(_delta(message_id, 1, answer.text))
        finish = "stop" if answer.state is AnswerState.COMPLETE else answer.state.value
        done = _done(message_id, finish, answer.usage, answer.sources or [])
        await self.send(done | {"replayed": True})

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

    # -- out ---------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(frame).decode())

    async def send_text(self, frame: str) -> None:
        """Send a frame serialised already (see `_delta`), after those sent before it. Nothing
        is sent once the connection is closing; a client that has gone is the reader's to see."""
        async with self._sending:
            if self._closing:
                return
            self._send_started = self._loop.time()
            try:
                await self._ws.send_text(frame)
            except (WebSocketDisconnect, RuntimeError, OSError):
                self._closing = True
            finally:
                self._send_started = None

    def _check_sending(self) -> None:
        """Every second while the connection is open: a frame that the client has not taken
        for `chat_send_timeout_seconds` (its socket buffers full all that time) means it
        stopped reading. It is disconnected and its answer's upstream request ends."""
        started = self._send_started
        timeout = self._settings.chat_send_timeout_seconds
        if started is not None and self._loop.time() - started > timeout:
            log.warning("client not reading; disconnecting it")
            self._closing = True
            if self._answer is not None and not self._answer.done():
                self._answer.cancel()
            self._closer = self._loop.create_task(self._close(CLOSE_TOO_SLOW, "too_slow"))
            return
        self._send_check = self._loop.call_later(SEND_CHECK_SECONDS, self._check_sending)

    async def _close(self, code: int, reason: str) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
                await self._ws.close(code=code, reason=reason)


def _uuid(value: Any, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise FrameError("bad_frame", f"{name} is not a valid id.") from exc


def _error(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


def _start(conversation_id: uuid.UUID, message_id: str) -> dict[str, Any]:
    return {"type": "start", "conversation_id": str(conversation_id), "message_id": message_id}


def _delta(message_id: str, seq: int, text: str) -> str:
    # Written out rather than dumped from a dict: one per token, the hottest line of the service.
    return (
        f'{{"type":"delta","message_id":"{message_id}","seq":{seq},'
        f'"text":{orjson.dumps(text).decode()}}}'
    )


def _done(
    message_id: str, finish_reason: str, usage: dict[str, Any] | None, sources: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "done",
        "message_id": message_id,
        "finish_reason": finish_reason,
        "usage": usage,
        "sources": sources,
    }
