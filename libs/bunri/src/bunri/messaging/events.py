"""Domain events: what happened (a scan completed, feedback given, a chat question answered),
published on the `bunri.events` topic exchange for whichever domain keeps its own queue of them
(DESIGN.md section 10; the character domain's is `character.events`).

An event is written to the outbox in the transaction of the change it tells of, and the outbox
relay publishes it: it goes out if and only if the change committed, at least once. Consumers
make its effects exactly once by its id. On the wire it is a Celery task message (task
`events.handle`, its one argument the event's id) routed by the event's type, so that a Celery
worker consuming a queue of events runs it as a journaled task like any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from bunri.db.base import utcnow
from bunri.db.models import OutboxMessage
from bunri.ids import uuid7
from bunri.messaging.outbox import outbox_columns
from bunri.messaging.protocol import TaskMessage, task_message
from bunri.messaging.tasks import HANDLE_EVENT
from bunri.messaging.topology import EVENTS_EXCHANGE

EVENT_TASK = HANDLE_EVENT


@dataclass(frozen=True, slots=True)
class DomainEvent:
    type: str  # its routing key: bunri.messaging.topology's SCAN_COMPLETED, ...
    user_id: uuid.UUID  # whose doing it was
    subject_id: uuid.UUID  # what it is about: the scan, the answer
    data: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid7)
    occurred_at: datetime = field(default_factory=utcnow)

    def message(self) -> TaskMessage:
        return task_message(
            EVENT_TASK,
            # The person's id in it, as in every task id of theirs: an erasure finds the events
            # still waiting in the outbox by it.
            task_id=f"{EVENT_TASK}:{self.user_id}:{self.id}",
            args=[str(self.id)],
            kwargs={
                "type": self.type,
                "user_id": str(self.user_id),
                "subject_id": str(self.subject_id),
                "occurred_at": self.occurred_at.isoformat(),
                "data": self.data,
            },
            argsrepr=f"('{self.id}',)",
            kwargsrepr=f"{{'type': {self.type!r}}}",
            exchange=EVENTS_EXCHANGE,
            routing_key=self.type,
        )


def record_event(session: Session, event: DomainEvent) -> None:
    """Add `event` to the outbox in `session`'s transaction (it commits with the change)."""
    session.add(OutboxMessage(**outbox_columns(event.message())))


async def record_event_async(
    connection: AsyncConnection | AsyncSession, event: DomainEvent
) -> None:
    """`record_event` for an async connection or session."""
    await connection.execute(insert(OutboxMessage).values(outbox_columns(event.message())))
