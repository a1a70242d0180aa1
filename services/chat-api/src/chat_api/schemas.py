from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from bunri.db.models import (
    AnswerState,
    BatchStatus,
    ChatBatchJob,
    ChatMessage,
    ChatRole,
    Conversation,
)
from bunri.web.pagination import Page
from bunri.web.text import MultilineText
from chat_api.frames import GuideSource


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


class ConversationPage(Page[ConversationSummary]):
    """The caller's conversations, newest first."""


class MessageOut(BaseModel):
    id: uuid.UUID
    role: ChatRole
    text: str
    state: AnswerState
    error_code: str | None
    scan_id: uuid.UUID | None
    sources: list[GuideSource] | None
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


class BatchQuestion(BaseModel):
    text: MultilineText = Field(min_length=1, max_length=2000)
    scan_id: uuid.UUID | None = None


class BatchAccepted(BaseModel):
    job_id: uuid.UUID
    status: BatchStatus
    status_url: str


class BatchError(BaseModel):
    code: str
    message: str


class BatchJobOut(BaseModel):
    job_id: uuid.UUID
    status: BatchStatus
    question: str
    scan_id: uuid.UUID | None
    answer: str | None
    sources: list[GuideSource] | None
    error: BatchError | None
    created_at: datetime
    completed_at: datetime | None

    @classmethod
    def of(cls, job: ChatBatchJob) -> BatchJobOut:
        error = None
        if job.error_code:
            error = BatchError(code=job.error_code, message=job.error_message or "")
        return cls(
            job_id=job.id,
            status=job.status,
            question=job.question,
            scan_id=job.scan_id,
            answer=job.answer,
            sources=job.sources,
            error=error,
            created_at=job.created_at,
            completed_at=job.completed_at,
        )
