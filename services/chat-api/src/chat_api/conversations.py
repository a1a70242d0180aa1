"""A chat turn's persistence: the question recorded (and its conversation opened) before the
answer starts, the answer recorded when it ends, complete or not. Each is its own transaction:
a WebSocket lives for minutes, a transaction must not."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bunri.db.base import utcnow
from bunri.db.models import AnswerState, ChatMessage, ChatRole, Conversation, ScanStatus
from bunri.errors import Conflict, NotFound
from bunri.ids import uuid7
from chat_api import repository

TITLE_CHARS = 60


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation."


class BatchJobNotFound(NotFound):
    code = "batch_job_not_found"
    message = "No such batch job."


class MessageInProgress(Conflict):
    code = "message_in_progress"
    message = "This message is already being answered; wait for that answer."


class ScanNotFound(NotFound):
    code = "scan_not_found"
    message = "No such scan."


@dataclass(frozen=True, slots=True)
class Question:
    user_id: uuid.UUID
    text: str
    conversation_id: uuid.UUID | None
    scan_id: uuid.UUID | None
    client_msg_id: str | None


@dataclass(frozen=True, slots=True)
class Turn:
    conversation_id: uuid.UUID
    answer_id: uuid.UUID
    history: list[tuple[str, str]]
    scan_result: dict[str, Any] | None
    # A question this client sent before: its stored answer, replayed instead of asked again.
    earlier_answer: ChatMessage | None = None


class ConversationStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], history_messages: int) -> None:
        self._sessions = sessions
        self._history_messages = history_messages

    async def open_turn(self, question: Question) -> Turn:
        async with self._sessions() as session:
            conversation = await self._conversation(session, question)
            # A conversation opened by this question has no history and no earlier answers.
            existing = question.conversation_id is not None
            if existing and question.client_msg_id:
                earlier = await repository.answer_to(
                    session, conversation.id, question.client_msg_id
                )
                if earlier is not None:
                    return Turn(conversation.id, earlier.id, [], None, earlier)
            scan_result = await self._scan_result(session, question)
            history = []
            if existing:
                history = [
                    (message.role.value, message.text)
                    for message in await repository.recent_messages(
                        session, conversation.id, self._history_messages
                    )
                    if message.text
                ]
            session.add(
                ChatMessage(
                    conversation_id=conversation.id,
                    role=ChatRole.USER,
                    text=question.text,
                    client_msg_id=question.client_msg_id,
                    scan_id=question.scan_id,
                )
            )
            if existing:
                conversation.updated_at = utcnow()
            try:
                await session.commit()
            except IntegrityError as exc:
                # Its client id is taken by a question whose answer is not written yet.
                raise MessageInProgress() from exc
            return Turn(conversation.id, uuid7(), history, scan_result)

    async def save_answer(
        self,
        turn: Turn,
        text: str,
        *,
        state: AnswerState,
        sources: list[dict[str, Any]],
        usage: dict[str, Any] | None = None,
        error_code: str | None = None,
    ) -> None:
        async with self._sessions() as session:
            session.add(
                ChatMessage(
                    id=turn.answer_id,
                    conversation_id=turn.conversation_id,
                    role=ChatRole.ASSISTANT,
                    text=text,
                    state=state,
                    sources=sources,
                    usage=usage,
                    error_code=error_code,
                )
            )
            await session.commit()

    async def _conversation(self, session: AsyncSession, question: Question) -> Conversation:
        if question.conversation_id is None:
            conversation = Conversation(
                user_id=question.user_id, title=question.text.strip()[:TITLE_CHARS]
            )
            session.add(conversation)
            await session.flush()
            return conversation
        found = await repository.get_users_conversation(
            session, question.user_id, question.conversation_id
        )
        if found is None:
            raise ConversationNotFound()
        return found

    async def _scan_result(
        self, session: AsyncSession, question: Question
    ) -> dict[str, Any] | None:
        if question.scan_id is None:
            return None
        scan = await repository.get_users_scan(session, question.user_id, question.scan_id)
        if scan is None:  # someone else's scan is as absent as a scan that never was
            raise ScanNotFound()
        return scan.result if scan.status is ScanStatus.COMPLETED else None
