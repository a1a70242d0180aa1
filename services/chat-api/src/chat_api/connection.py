"""One chat WebSocket's protocol (DESIGN.md section 7, `chat_api.frames`): authenticate, then
take `message`, `cancel` and `ping` frames; each answer is `chat_api.answers`' to give.

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
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from bunri.auth import AccessClaims
from bunri.auth.errors import AuthUnavailable
from bunri.db.base import utcnow
from bunri.errors import BunriError, DependencyUnavailable
from bunri.logging import get_logger
from bunri.web.errors import DEPENDENCY_OUTAGES
from bunri.web.text import INVALID_TEXT, text_problem
from chat_api import frames
from chat_api.answers import Answering
from chat_api.conversations import Question
from chat_api.deps import ChatDependencies

log = get_logger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4408  # the client stopped reading: a frame waited too long for it
CLOSE_TOO_MANY = 4429  # over the sockets a person, or an address before auth, may hold
SEND_CHECK_SECONDS = 1.0


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
        self._expiry: asyncio.TimerHandle | None = None

    async def serve(self) -> None:
        await self._ws.accept()
        sockets = self._deps.sockets
        address = self._ws.client.host if self._ws.client else "unknown"
        if not sockets.enter_unauthenticated(address):
            await self._close(CLOSE_TOO_MANY, "too_many_sockets")
            return
        try:
            user = await self._authenticate()
        finally:
            sockets.leave_unauthenticated(address)
        if user is None:
            return
        if not sockets.enter_user(user.user_id):
            await self._close(CLOSE_TOO_MANY, "too_many_sockets")
            return
        self._check_sending()
        self._close_at_expiry(user)
        try:
            await self.send(frames.ready(user.user_id))
            await self._read_frames(user)
        except WebSocketDisconnect:
            pass
        finally:
            sockets.leave_user(user.user_id)
            self._closing = True
            for timer in (self._send_check, self._expiry):
                if timer is not None:
                    timer.cancel()
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
        """Frames until the client leaves; an `auth` frame with a fresh token of the same person
        carries the socket past the first token's expiry."""
        while not self._closing:
            raw = await self._receive_text()
            try:
                frame = orjson.loads(raw)
                if not isinstance(frame, dict):
                    raise ValueError("not an object")
            except ValueError:
                await self.send(frames.error("bad_frame", "Frames are JSON objects with a `type`."))
                continue
            kind = frame.get("type")
            if kind == "ping":
                await self.send(frames.PONG)
            elif kind == "cancel":
                if self._answer is not None and not self._answer.done():
                    self._answer.cancel()
            elif kind == "message":
                if await self._still_valid(user):
                    await self._on_message(user, frame)
            elif kind == "auth":
                renewed = await self._renew(user, str(frame.get("token", "")))
                if renewed is None:
                    return
                user = renewed
            else:
                await self.send(frames.error("bad_frame", f"Unknown frame type {kind!r}."))

    async def _still_valid(self, user: AccessClaims) -> bool:
        """Whether the socket's token still stands (logout and account deletion revoke it);
        a revoked one closes the socket."""
        try:
            await self._deps.verifier.ensure_not_revoked(user)
        except AuthUnavailable:
            await self.send(frames.error(AuthUnavailable.code, AuthUnavailable.message))
            return False
        except BunriError as exc:
            await self._end(CLOSE_UNAUTHORIZED, exc.code)
            return False
        return True

    async def _renew(self, user: AccessClaims, token: str) -> AccessClaims | None:
        """The socket's claims from a fresh token of the same person; None once it is closed."""
        try:
            renewed = await self._deps.verifier.verify(token)
        except BunriError as exc:
            await self._end(CLOSE_UNAUTHORIZED, exc.code)
            return None
        if renewed.user_id != user.user_id:
            await self._end(CLOSE_UNAUTHORIZED, "token_user_changed")
            return None
        self._close_at_expiry(renewed)
        await self.send(frames.ready(renewed.user_id))
        return renewed

    def _close_at_expiry(self, user: AccessClaims) -> None:
        """At the token's expiry the socket closes (4401 `token_expired`), unless an `auth`
        frame brought a fresh one first."""
        if self._expiry is not None:
            self._expiry.cancel()
        seconds = max((user.expires_at - utcnow()).total_seconds(), 0)
        self._expiry = self._loop.call_later(seconds, self._expired)

    def _expired(self) -> None:
        self._closer = self._loop.create_task(self._end(CLOSE_UNAUTHORIZED, "token_expired"))

    async def _end(self, code: int, reason: str) -> None:
        """Close the socket for good, its answer (if one streams) cut short."""
        self._closing = True
        if self._answer is not None and not self._answer.done():
            self._answer.cancel()
        await self._close(code, reason)

    async def _receive_text(self) -> str:
        """The next frame's text ("" for a binary frame, which no protocol frame is);
        WebSocketDisconnect at the end."""
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        return str(message.get("text") or "")

    async def _on_message(self, user: AccessClaims, frame: dict[str, Any]) -> None:
        if self._answer is not None and not self._answer.done():
            await self.send(
                frames.error("busy", "An answer is still streaming; cancel it or wait.")
            )
            return
        try:
            question = self._question(user, frame)
        except FrameError as exc:
            await self.send(frames.error(exc.code, exc.message))
            return
        try:
            usage = await self._deps.limiter.hit(str(user.user_id))
        except DEPENDENCY_OUTAGES as exc:
            log.warning("rate limit not checked", error=repr(exc))
            await self.send(frames.error(DependencyUnavailable.code, DependencyUnavailable.message))
            return
        if usage.exceeded:
            await self.send(
                frames.error(
                    "rate_limited",
                    "Too many questions; wait a little.",
                    retry_after=usage.retry_after_seconds,
                )
            )
            return
        self._answer = asyncio.create_task(Answering(self._deps, self).answer(question))

    def _question(self, user: AccessClaims, frame: dict[str, Any]) -> Question:
        text = frame.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("empty_message", "A message needs some text.")
        if (problem := text_problem(text, multiline=True)) is not None:
            raise FrameError(INVALID_TEXT, f"The message's text {problem}.")
        if len(text) > self._settings.chat_max_question_chars:
            raise FrameError(
                "message_too_long",
                f"A message holds at most {self._settings.chat_max_question_chars} characters.",
            )
        client_msg_id = frame.get("client_msg_id")
        if client_msg_id is not None and (
            not isinstance(client_msg_id, str)
            or not 0 < len(client_msg_id) <= frames.MAX_CLIENT_MSG_ID_CHARS
            or text_problem(client_msg_id, multiline=False) is not None
        ):
            raise FrameError(
                "bad_frame",
                f"client_msg_id is a string of 1 to {frames.MAX_CLIENT_MSG_ID_CHARS} characters, "
                "none of them a control character.",
            )
        return Question(
            user_id=user.user_id,
            text=text.strip(),
            conversation_id=_uuid(frame.get("conversation_id"), "conversation_id"),
            scan_id=_uuid(frame.get("scan_id"), "scan_id"),
            client_msg_id=client_msg_id,
        )

    # -- out ---------------------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(orjson.dumps(frame).decode())

    async def send_text(self, frame: str) -> None:
        """Send a frame serialised already (see `frames.delta`), after those sent before it. Nothing
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
