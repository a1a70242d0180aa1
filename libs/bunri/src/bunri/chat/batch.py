"""Batch answers' writes: each job is answered or failed once, by compare-and-set on `queued`."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bunri.chat.grounding import answer_topics
from bunri.db.base import utcnow
from bunri.db.models import BatchKind, BatchStatus, ChatBatchJob
from bunri.messaging.events import DomainEvent, record_event
from bunri.messaging.topology import CHAT_ANSWERED


def complete_job(
    sessions: sessionmaker[Session], job_id: uuid.UUID, answer: str, sources: list[dict[str, Any]]
) -> bool:
    return _finish(sessions, job_id, status=BatchStatus.COMPLETED, answer=answer, sources=sources)


def fail_job(sessions: sessionmaker[Session], job_id: uuid.UUID, code: str, message: str) -> bool:
    return _finish(
        sessions, job_id, status=BatchStatus.FAILED, error_code=code, error_message=message
    )


def _finish(sessions: sessionmaker[Session], job_id: uuid.UUID, **values: Any) -> bool:
    """Whether this write ended the job (False: it had ended already, or does not exist). A
    question answered is a `chat.answered` event, in the same transaction."""
    with sessions() as session:
        ended = session.execute(
            update(ChatBatchJob)
            .where(ChatBatchJob.id == job_id, ChatBatchJob.status == BatchStatus.QUEUED)
            .values(completed_at=utcnow(), updated_at=utcnow(), **values)
            .returning(
                ChatBatchJob.user_id, ChatBatchJob.kind, ChatBatchJob.status, ChatBatchJob.sources
            )
        ).first()
        if (
            ended is not None
            and ended.status is BatchStatus.COMPLETED
            and ended.kind is BatchKind.QUESTION
        ):
            event = DomainEvent(
                CHAT_ANSWERED,
                ended.user_id,
                job_id,
                {"path": "batch", "topics": answer_topics(ended.sources)},
            )
            record_event(session, event)
        session.commit()
    return ended is not None
