"""Retry timing for transient failures (the database, the object store or the broker briefly
away)."""

from __future__ import annotations

import random
import time
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Reject


def backoff_seconds(retries: int, cap: float = 60.0) -> float:
    """Exponential backoff with equal jitter: 1, 2, 4 ... `cap` seconds, each between half and all
    of that, so the retries spread out yet their total is predictable (ten retries: about four
    minutes of outage survived)."""
    ceiling = min(cap, 2.0**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrecy)


def retry_later(task: Task[Any, Any], exc: Exception, retries: int) -> NoReturn:
    """Retry the task after a backoff. If the retry cannot even be published (the broker is
    away), give the message back instead: Celery would reject it to the dead-letter queue, and its
    scan would fail for an outage it should have outlived."""
    try:
        raise task.retry(exc=exc, countdown=backoff_seconds(retries))
    except Reject as refused:
        time.sleep(1)  # a green sleep under eventlet: the broker is not back in a millisecond
        raise Reject(exc, requeue=True) from refused
