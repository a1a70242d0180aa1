"""Task entry points: thin shells over `CharacterWork`, run under the node's journal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

import redis.exceptions
from celery import Task

from bunri.messaging.events import DomainEvent
from bunri.messaging.tasks import GRANT_CAMPAIGN_CHUNK, HANDLE_EVENT
from bunri.worker.retry import DEPENDENCY_AWAY, retry_while_allowed
from character_worker.app import app, cache_redis, missions, rules, runner, sessions, settings
from character_worker.service import CharacterWork, StillContended

# Worth another try later: the database or Redis briefly away, or a character too busy.
TRANSIENT = (
    *DEPENDENCY_AWAY,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    StillContended,
)


@cache
def work() -> CharacterWork:
    return CharacterWork(
        sessions(), cache_redis, rules(), missions(), settings.character_conflict_attempts
    )


@app.task(
    bind=True,
    name=HANDLE_EVENT,
    soft_time_limit=60,
    time_limit=90,
    max_retries=settings.character_task_max_retries,
)
def handle_event(
    self: Task[Any, None],
    event_id: str,
    *,
    type: str,
    user_id: str,
    subject_id: str,
    occurred_at: str,
    data: dict[str, Any],
) -> None:
    event = DomainEvent(
        type=type,
        user_id=uuid.UUID(user_id),
        subject_id=uuid.UUID(subject_id),
        data=dict(data or {}),
        id=uuid.UUID(event_id),
        occurred_at=datetime.fromisoformat(occurred_at),
    )
    runner.run(self, user_id, lambda _: _retrying(self, lambda: work().handle_event(event)))


@app.task(
    bind=True,
    name=GRANT_CAMPAIGN_CHUNK,
    soft_time_limit=300,
    time_limit=330,
    # A campaign is owed: a chunk tries again until it is granted.
    max_retries=None,
)
def grant_campaign_chunk(self: Task[Any, None], campaign: str, *, number: int) -> None:
    runner.run(
        self, campaign, lambda _: _retrying(self, lambda: work().grant_chunk(campaign, number))
    )


def _retrying(self: Task[Any, None], body: Callable[[], str]) -> str:
    try:
        return body()
    except TRANSIENT as exc:
        retry_while_allowed(self, exc)
        # Out of retries: escaping, the message goes to its dead-letter queue and waits there.
        raise
