"""A chat turn's persistence: the question recorded (and its conversation opened) before the
answer starts, the answer recorded when it ends, complete or not. Each is its own transaction:
a WebSocket lives for minutes, a transaction must not.

Both run once per question on the event loop that streams every answer, so they are plain Core
statements, as few round trips as the work allows: the ORM's unit of work cost more CPU per
question than the twenty tokens of its answer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bunri.chat.grounding import answer_topics
from bunri.db.base import utcnow
from bunri.db.models import AnswerState, ChatMessage, ChatRole, Conversation, Scan, ScanStatus
from bunri.ids import uuid7
from bunri.messaging.events import DomainEvent, record_event_async
from bunri.messaging.topology import CHAT_ANSWERED
from bunri.scans.ownership import ScanNotFound
from chat_api.errors import ConversationNotFound, MessageInProgress

TITLE_CHARS = 60


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    id: uuid.UUID
    text: str
    state: AnswerState
    sources: list[dict[str, Any]] | None
    usage: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Question:
    user_id: uuid.UUID
    text: str
    conversation_id: uuid.UUID | None
    scan_id: uuid.UUID | None
    client_msg_id: str | None


@dataclass(frozen=True, slots=True)
class Turn:
    user_id: uuid.UUID
    conversation_id: uuid.UUID
    answer_id: uuid.UUID
    history: list[tuple[str, str]]
    scan_result: dict[str, Any] | None
    # A question this client sent before: its stored answer, replayed instead of asked again.
    earlier_answer: StoredAnswer | None = None


# Built once: a statement made per call spends more CPU on its cache key than on the query.
_INSERT_CONVERSATION = insert(Conversation)
_INSERT_MESSAGE = insert(ChatMessage)
_TOUCH_CONVERSATION = (
    update(Conversation)
    .where(
        Conversation.id == bindparam("conversation_key"),
        Conversation.user_id == bindparam("owner"),
    )
    .values(updated_at=bindparam("touched_at"))
    .returning(Conversation.id)
)


class ConversationStore:
    def __init__(self, engine: AsyncEngine, history_messages: int) -> None:
        self._engine = engine
        # One statement needs no BEGIN and COMMIT around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._recent_messages = (
            select(ChatMessage.role, ChatMessage.text)
            .where(ChatMessage.conversation_id == bindparam("conversation_key"))
            .order_by(ChatMessage.id.desc())
            .limit(history_messages)
        )

    async def open_turn(self, question: Question) -> Turn:
        async with self._engine.begin() as connection:
            scan_result = await self._scan_result(connection, question)
            if question.conversation_id is None:
                conversation_id = uuid7()
                await connection.execute(
                    _INSERT_CONVERSATION,
                    {
                        "id": conversation_id,
                        "user_id": question.user_id,
                        "title": question.text.strip()[:TITLE_CHARS],
                    },
                )
                # A conversation opened by this question has no history and no earlier answers.
                history: list[tuple[str, str]] = []
            else:
                conversation_id = await self._touch_conversation(connection, question)
                if question.client_msg_id:
                    earlier = await _answer_to(connection, conversation_id, question.client_msg_id)
                    if earlier is not None:
                        return Turn(
                            question.user_id, conversation_id, earlier.id, [], None, earlier
                        )
                history = await self._history(connection, conversation_id)
            try:
                await connection.execute(
                    _INSERT_MESSAGE,
                    {
                        "id": uuid7(),
                        "conversation_id": conversation_id,
                        "role": ChatRole.USER,
                        "text": question.text,
                        "client_msg_id": question.client_msg_id,
                        "scan_id": question.scan_id,
                    },
                )
            except IntegrityError as exc:
                # Its client id is taken by a question whose answer is not written yet.
                raise MessageInProgress() from exc
        return Turn(question.user_id, conversation_id, uuid7(), history, scan_result)

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
        answered = state is AnswerState.COMPLETE
        # A whole answer is a `chat.answered` event, in the same transaction; anything else is
        # one statement, needing no BEGIN and COMMIT.
        engine = self._engine if answered else self._autocommit
        async with engine.begin() as connection:
            await connection.execute(
                _INSERT_MESSAGE,
                {
                    "id": turn.answer_id,
                    "conversation_id": turn.conversation_id,
                    "role": ChatRole.ASSISTANT,
                    "text": text,
                    "state": state,
                    "sources": sources,
                    "usage": usage,
                    "error_code": error_code,
                },
            )
            if answered:
                event = DomainEvent(
                    CHAT_ANSWERED,
                    turn.user_id,
                    turn.answer_id,
                    {
                        "conversation_id": str(turn.conversation_id),
                        "path": "live",
                        "topics": answer_topics(sources),
                    },
                )
                await record_event_async(connection, event)

    async def _touch_conversation(
        self, connection: AsyncConnection, question: Question
    ) -> uuid.UUID:
        """The asker's own conversation, its `updated_at` moved to now; someone else's is as
        absent as one that never was."""
        touched: uuid.UUID | None = await connection.scalar(
            _TOUCH_CONVERSATION,
            {
                "conversation_key": question.conversation_id,
                "owner": question.user_id,
                "touched_at": utcnow(),
            },
        )
        if touched is None:
            raise ConversationNotFound()
        return touched

    async def _history(
        self, connection: AsyncConnection, conversation_id: uuid.UUID
    ) -> list[tuple[str, str]]:
        """The conversation's last messages that say something, oldest first."""
        newest = await connection.execute(
            self._recent_messages, {"conversation_key": conversation_id}
        )
        return [(role.value, text) for role, text in reversed(newest.all()) if text]

    async def _scan_result(
        self, connection: AsyncConnection, question: Question
    ) -> dict[str, Any] | None:
        if question.scan_id is None:
            return None
        scan = (
            await connection.execute(
                select(Scan.status, Scan.result).where(
                    Scan.id == question.scan_id, Scan.user_id == question.user_id
                )
            )
        ).first()
        if scan is None:  # someone else's scan is as absent as a scan that never was
            raise ScanNotFound()
        return scan.result if scan.status is ScanStatus.COMPLETED else None


async def _answer_to(
    connection: AsyncConnection, conversation_id: uuid.UUID, client_msg_id: str
) -> StoredAnswer | None:
    """The answer that followed the question sent before under this client id, if any."""
    asked = (
        select(ChatMessage.id)
        .where(
            ChatMessage.conversation_id == conversation_id,
            ChatMessage.client_msg_id == client_msg_id,
        )
        .scalar_subquery()
    )
    answer = (
        await connection.execute(
            select(
                ChatMessage.id,
                ChatMessage.text,
                ChatMessage.state,
                ChatMessage.sources,
                ChatMessage.usage,
            )
            .where(
                ChatMessage.conversation_id == conversation_id,
                ChatMessage.role == ChatRole.ASSISTANT,
                ChatMessage.id > asked,
            )
            .order_by(ChatMessage.id)
            .limit(1)
        )
    ).first()
    return StoredAnswer(*answer) if answer is not None else None
