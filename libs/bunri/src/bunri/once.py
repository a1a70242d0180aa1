"""A process's shared clients (database engines, S3 and Redis clients), built on first use, once."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def once(factory: Callable[[], T]) -> Callable[[], T]:
    """`factory()` on the first call, the same object on every later one.

    Unlike `functools.cache`, concurrent first calls wait for one build instead of each making
    its own: a threads pool's first wave of tasks, or green threads that yield while a client
    connects, would otherwise build one engine, connection pool and client each (and only the
    last one would be kept, the others left open)."""
    lock = threading.Lock()
    built: list[T] = []

    @functools.wraps(factory)
    def get() -> T:
        if not built:
            with lock:
                if not built:
                    built.append(factory())
        return built[0]

    return get
