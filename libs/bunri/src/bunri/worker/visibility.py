"""Waiting for a commit: the APIs publish a task just before committing the row it is about, so
a fast worker can read before the row (or its change) is there."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# A publishing request's commit usually follows its publish within a millisecond or two.
VISIBILITY_TIMEOUT_SECONDS = 5.0


def read_when_visible(
    read: Callable[[], T],
    visible: Callable[[T], bool],
    timeout_seconds: float = VISIBILITY_TIMEOUT_SECONDS,
) -> T:
    """`read()` again, with a growing pause, until `visible` holds of it or the time is up; its
    last result either way."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.002
    while True:
        value = read()
        if visible(value) or time.monotonic() >= deadline:
            return value
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
