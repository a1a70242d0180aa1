"""Retry timing for transient failures (the database, the object store or the broker briefly
away)."""

from __future__ import annotations

import random
import time
from typing import Any

import kombu.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import Reject

from bunri.logging import get_logger

log = get_logger(__name__)

# A dependency every worker has, briefly away: worth another try later.
DEPENDENCY_AWAY = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection free in time
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)


def backoff_seconds(retries: int, cap: float = 60.0) -> float:
    """Exponential backoff with equal jitter: 1, 2, 4 ... `cap` seconds, each between half and all
    of that, so the retries spread out yet their total is predictable (ten retries: about four
    minutes of outage survived)."""
    ceiling = min(cap, 2.0**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrecy)


def retry_while_allowed(task: Task[Any, Any], exc: Exception) -> None:
    """Retry the task after a backoff (this raises) while it has retries left; return once it
    has none, for the caller to give up. If the retry cannot even be published (the broker is
    away), give the message back instead: Celery would reject it to the dead-letter queue, and its
    scan would fail for an outage it should have outlived."""
    retries = task.request.retries
    if task.max_retries is not None and retries >= task.max_retries:
        return
    log.warning(
        "transient failure; retrying",
        task_id=task.request.id,
        retries=retries,
        error=repr(exc),
    )
    try:
        raise task.retry(exc=exc, countdown=backoff_seconds(retries))
    except Reject as refused:
        time.sleep(1)  # a green sleep under eventlet: the broker is not back in a millisecond
        raise Reject(exc, requeue=True) from refused
