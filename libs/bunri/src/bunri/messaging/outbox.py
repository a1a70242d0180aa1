"""The transactional outbox: a task that could not be published at accept time is written in the
same transaction as its scan, and a relay publishes it once the broker is back.

The relay locks rows with SKIP LOCKED, so every replica can run one without publishing a row
twice; a crash between publish and delete publishes it again, which the workers' compare-and-set
(and journal) make harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from bunri.db.models import OutboxMessage
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable, QueueFull
from bunri.messaging.protocol import TaskMessage
from bunri.messaging.publisher import Publisher, create_publisher
from bunri.messaging.topology import EVENTS_EXCHANGE
from bunri.metrics.messaging import OUTBOX_BACKLOG, OUTBOX_FALLBACKS, OUTBOX_RELAYED
from bunri.settings import BrokerSettings

log = get_logger(__name__)


def outbox_row(message: TaskMessage) -> OutboxMessage:
    """The row keeping `message` (its headers too: a relayed message carries its trace)."""
    OUTBOX_FALLBACKS.labels(message.routing_key).inc()
    return OutboxMessage(**outbox_columns(message))


async def keep_in_outbox(connection: AsyncConnection, message: TaskMessage) -> None:
    """`outbox_row` for a caller that holds a connection rather than a session."""
    OUTBOX_FALLBACKS.labels(message.routing_key).inc()
    await connection.execute(insert(OutboxMessage).values(outbox_columns(message)))


def outbox_columns(message: TaskMessage) -> dict[str, Any]:
    return {
        "exchange": message.exchange,
        "task_id": message.task_id,
        "task_name": message.task_name,
        "routing_key": message.routing_key,
        "priority": message.priority,
        "headers": message.headers,
        "body": message.body,
        "content_type": message.content_type,
    }


def message_of(row: OutboxMessage) -> TaskMessage:
    return TaskMessage(
        task_id=row.task_id,
        task_name=row.task_name,
        routing_key=row.routing_key,
        priority=row.priority,
        headers=row.headers,
        body=row.body,
        content_type=row.content_type,
        exchange=row.exchange,
    )


async def relay_once(
    sessionmaker: async_sessionmaker[AsyncSession], publisher: Publisher, batch: int = 20
) -> int:
    """Publish up to `batch` waiting messages, task messages before events, oldest first; how
    many were published."""
    published = 0
    async with sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                # A backlog of events (their consumer away a while) never holds up a scan.
                .order_by(OutboxMessage.exchange == EVENTS_EXCHANGE, OutboxMessage.created_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            try:
                await publisher.publish(message_of(row))
            except (BrokerUnavailable, QueueFull) as exc:
                row.attempts += 1
                row.last_error = repr(exc)
                if isinstance(exc, QueueFull):
                    continue  # that queue is full, not every queue: the others' messages go
                break  # the broker is still away: try again on the next round
            await session.delete(row)
            published += 1
            OUTBOX_RELAYED.labels(row.routing_key).inc()
        await session.commit()
    if published:
        log.info("outbox relayed", published=published)
    return published


async def run_relay(
    sessionmaker: async_sessionmaker[AsyncSession],
    publisher: Publisher,
    *,
    interval_seconds: float = 1.0,
    on_round: Callable[[], None] | None = None,
) -> None:
    """Relay forever (a service's background task, or `bunri relay`); drains quickly when there
    is a backlog. `on_round` is called at the start of every round (a liveness heartbeat)."""
    backlog = _BacklogGauge()
    while True:
        if on_round is not None:
            on_round()
        published = 0
        if publisher.connected:
            try:
                published = await relay_once(sessionmaker, publisher)
            except Exception:  # a database hiccup must not end the relay
                log.exception("outbox relay round failed")
        await backlog.count_when_due(sessionmaker)
        if not published:
            await asyncio.sleep(interval_seconds)


class _BacklogGauge:
    """Counts the outbox now and then, the broker connected or not (while it is away is when the
    figure matters); a count(*) of a table that is empty in normal times."""

    def __init__(self, interval_seconds: float = 15.0) -> None:
        self._interval_seconds = interval_seconds
        self._counted_at: float | None = None

    async def count_when_due(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        now = time.monotonic()
        if self._counted_at is not None and now - self._counted_at < self._interval_seconds:
            return
        self._counted_at = now
        try:
            async with sessionmaker() as session:
                waiting = await session.scalar(select(func.count()).select_from(OutboxMessage))
        except Exception as exc:  # the database away: the figure waits for it
            log.warning("outbox backlog not counted", error=type(exc).__name__)
            return
        OUTBOX_BACKLOG.set(waiting or 0)


@asynccontextmanager
async def publishing(
    settings: BrokerSettings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Publisher]:
    """A service's publisher, connected, with the outbox relay running beside it; both stopped
    on exit."""
    publisher = create_publisher(settings, confirm_timeout=settings.publish_confirm_timeout_seconds)
    await publisher.start()
    relay = asyncio.create_task(
        run_relay(sessionmaker, publisher, interval_seconds=settings.outbox_relay_interval_seconds)
    )
    try:
        yield publisher
    finally:
        relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay
        await publisher.close()
