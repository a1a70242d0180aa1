"""Queued questions (`POST /api/v1/chat/batch`): the job recorded and its task published to
`chat.batch` at low priority in the same request; if the broker cannot be reached the message
goes to the outbox in the job's transaction, and a relay publishes it later."""

from __future__ import annotations

import uuid

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.db.models import ChatBatchJob
from bunri.errors import RateLimited
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable
from bunri.messaging.outbox import outbox_row
from bunri.messaging.protocol import TaskCall
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import ANSWER_CHAT_BATCH
from bunri.messaging.topology import LOW_PRIORITY
from bunri.ratelimit import TokenBucket
from bunri.scans.ownership import owned_scan

log = get_logger(__name__)

# Below LOW_PRIORITY, where everyone's queued questions wait.
BUSY_PRIORITY = 0


async def admit_question(bucket: TokenBucket, user_id: uuid.UUID) -> int:
    """The priority of the person's next queued question: below everyday use's once they have
    used half their burst, so that `chat.batch` serves everyone else first; RateLimited (429)
    once it is spent."""
    try:
        take = await bucket.take(str(user_id))
    except RedisError as exc:
        log.warning("queued question rate limit unavailable", error=repr(exc))
        return LOW_PRIORITY
    if not take.allowed:
        raise RateLimited(
            take.retry_after_seconds,
            "You have queued many questions; wait a moment before queueing more.",
        )
    return BUSY_PRIORITY if take.busy else LOW_PRIORITY


async def submit_question(
    session: AsyncSession,
    publisher: Publisher,
    user_id: uuid.UUID,
    text: str,
    scan_id: uuid.UUID | None,
    priority: int = LOW_PRIORITY,
) -> ChatBatchJob:
    """The flushed job; the caller commits. QueueFull (503) when `chat.batch` is full."""
    if scan_id is not None:
        await owned_scan(session, user_id, scan_id)
    job = ChatBatchJob(user_id=user_id, question=text, scan_id=scan_id)
    session.add(job)
    await session.flush()
    message = TaskCall(ANSWER_CHAT_BATCH, job.id).message(priority)
    try:
        await publisher.publish(message)
    except BrokerUnavailable as exc:
        log.warning(
            "broker unavailable; batch job kept in the outbox", job_id=str(job.id), error=repr(exc)
        )
        session.add(outbox_row(message))
    return job
