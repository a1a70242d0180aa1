from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from bunri.db.models import AnswerState, ChatMessage, ChatRole, Conversation


class ConversationSummary(BaseModel):
    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationSummary:
        return cls(
            id=conversation.id,
            title=conversation.title,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    next_cursor: str | None


class MessageOut(BaseModel):
    id: uuid.UUID
    role: ChatRole
    text: str
    state: AnswerState
    error_code: str | None
    scan_id: uuid.UUID | None
    sources: list[dict[str, Any]] | None
    created_at: datetime

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        return cls(
            id=message.id,
            role=message.role,
            text=message.text,
            state=message.state,
            error_code=message.error_code,
            scan_id=message.scan_id,
            sources=message.sources,
            created_at=message.created_at,
        )


class ConversationOut(ConversationSummary):
    messages: list[MessageOut]
