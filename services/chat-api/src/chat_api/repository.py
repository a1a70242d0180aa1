"""Queries chat-api runs; the caller commits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bunri.db.models import ChatBatchJob, Conversation


async def get_users_conversation(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID, *, messages: bool = False
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.id == conversation_id, Conversation.user_id == user_id
    )
    if messages:
        query = query.options(selectinload(Conversation.messages))
    return await session.scalar(query)


async def list_users_conversations(
    session: AsyncSession, user_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[Conversation]:
    """Newest first (ids are time-ordered), after the cursor's conversation."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    if before is not None:
        query = query.where(Conversation.id < before)
    return list((await session.scalars(query.order_by(Conversation.id.desc()).limit(limit))).all())


async def get_users_batch_job(
    session: AsyncSession, user_id: uuid.UUID, job_id: uuid.UUID
) -> ChatBatchJob | None:
    return await session.scalar(
        select(ChatBatchJob).where(ChatBatchJob.id == job_id, ChatBatchJob.user_id == user_id)
    )
