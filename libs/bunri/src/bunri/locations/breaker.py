"""A circuit breaker for a live provider: after enough failures in a row, stop calling it for a
while, then let one trial call decide whether it is back."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """Ask `allow()` before a call and report its outcome with `record_success()` or
    `record_failure()`. One event loop's callers only: nothing here is locked."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_after_seconds = reset_after_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started_at = 0.0

    @property
    def state(self) -> BreakerState:
        return self._state

    def allow(self) -> bool:
        now = self._clock()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now - self._opened_at < self.reset_after_seconds:
                return False
            self._state = BreakerState.HALF_OPEN
            self._trial_started_at = now
            return True
        # Half-open: the trial is out. A trial whose caller was cancelled never reports, so one
        # silent for a whole reset period is given up and another let through, or the breaker
        # would refuse for ever.
        if now - self._trial_started_at >= self.reset_after_seconds:
            self._trial_started_at = now
            return True
        return False

    def record_success(self) -> None:
        # A success from a call let through before the breaker opened says little about now:
        # only the half-open trial may close an open breaker.
        if self._state is BreakerState.OPEN:
            return
        self._state = BreakerState.CLOSED
        self._failures = 0

    def record_failure(self) -> None:
        if self._state is BreakerState.OPEN:
            # Calls started before it opened, failing late, must not push the trial further off.
            return
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
