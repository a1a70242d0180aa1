"""A bounded number of shared slots, or all of them for one holder: how a worker runs a hazardous
step side by side normally, and alone for a task suspected of crashing its process (so that if it
crashes again, it is the only one blamed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


class Slots:
    def __init__(self, size: int) -> None:
        self._size = size
        self._in_use = 0
        self._exclusive_waiting = 0
        self._exclusive = False
        self._changed = threading.Condition()

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(
                lambda: (
                    not self._exclusive
                    and not self._exclusive_waiting
                    and self._in_use < self._size
                )
            )
            self._in_use += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_use -= 1
                self._changed.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._changed:
            self._exclusive_waiting += 1
            self._changed.wait_for(lambda: not self._exclusive and self._in_use == 0)
            self._exclusive_waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._changed:
                self._exclusive = False
                self._changed.notify_all()

    def for_task(self, suspect: bool) -> AbstractContextManager[None]:
        return self.exclusive() if suspect else self.shared()
