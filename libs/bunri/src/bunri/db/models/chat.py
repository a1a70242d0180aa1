from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey


def _enum(kind: type[StrEnum]) -> Enum:
    return Enum(
        kind,
        native_enum=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class Conversation(UUIDPrimaryKey, Timestamps, Base):
    """A person's chat about recycling; `updated_at` moves with each message."""

    __tablename__ = "conversations"
    # The list's own order (newest first, a cursor on the id): an index on user_id alone lets
    # the planner walk the whole primary key backwards for a person with few conversations.
    __table_args__ = (Index("ix_conversations_user_id_id", "user_id", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(120))
    messages: Mapped[list[ChatMessage]] = relationship(
        back_populates="conversation",
        order_by="ChatMessage.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class ChatRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class AnswerState(StrEnum):
    COMPLETE = "complete"
    # Streaming stopped early: the person cancelled, or the model failed mid-answer.
    CANCELLED = "cancelled"
    FAILED = "failed"


class ChatMessage(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_msg_id"),
        # A conversation's last messages, newest first, read before every answer: with
        # conversation_id alone, PostgreSQL's generic plan walked the primary key backwards
        # through every message of every conversation (80 ms at 120,000 messages).
        Index("ix_chat_messages_conversation_id_id", "conversation_id", "id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    role: Mapped[ChatRole] = mapped_column(_enum(ChatRole))
    text: Mapped[str] = mapped_column(Text)
    # The client's id of a question, so a resend after a reconnect is not asked twice.
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    scan_id: Mapped[uuid.UUID | None]
    state: Mapped[AnswerState] = mapped_column(_enum(AnswerState), default=AnswerState.COMPLETE)
    error_code: Mapped[str | None] = mapped_column(String(64))
    # The guides an answer drew on, and the model's token counts.
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class BatchStatus(StrEnum):
    QUEUED = "queued"
    COMPLETED = "completed"
    FAILED = "failed"


class BatchKind(StrEnum):
    # A person's question, answered from the guides (by the model, or the guides alone).
    QUESTION = "question"
    # A weekly report for the model to write from the figures it is given; without a model
    # there is nothing to write (the report's template stays).
    WEEKLY_REPORT = "weekly_report"


class ChatBatchJob(UUIDPrimaryKey, Timestamps, Base):
    """A question answered through the `chat.batch` queue, not a live socket; written once, by
    compare-and-set on `status` (a late or duplicated answer changes nothing)."""

    __tablename__ = "chat_batch_jobs"
    __table_args__ = (Index("ix_chat_batch_jobs_user_id_id", "user_id", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    kind: Mapped[BatchKind] = mapped_column(
        _enum(BatchKind), default=BatchKind.QUESTION, server_default=BatchKind.QUESTION.value
    )
    scan_id: Mapped[uuid.UUID | None]
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus), default=BatchStatus.QUEUED)
    answer: Mapped[str | None] = mapped_column(Text)
    sources: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
