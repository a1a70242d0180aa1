"""Worker liveness that a busy worker passes: the consumer's own timer rewrites a small file every
few seconds, whatever the pool is doing, and a probe (`bunri worker alive`) checks its age. A
worker whose loop is stuck stops writing; one busy with long tasks does not (DESIGN.md section 9:
never `celery inspect ping`, which queues behind the work and gets busy workers killed)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from celery import bootsteps

from bunri.logging import get_logger

log = get_logger(__name__)

# How old a heartbeat may be for its worker to count as alive (`bunri worker alive`, /healthz).
HEARTBEAT_MAX_AGE_SECONDS = 60.0


def write_heartbeat(path: Path, **details: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps({"pid": os.getpid(), "at": time.time(), **details}))
    os.replace(temporary, path)  # a probe never reads half a file


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the last beat, or None if there is none."""
    try:
        beat = json.loads(path.read_text())
        return max(0.0, time.time() - float(beat["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def heartbeat_step(path: Path, interval_seconds: float) -> type[bootsteps.StartStopStep]:
    """A consumer bootstep beating every `interval_seconds` on the consumer's timer."""

    class Heartbeat(bootsteps.StartStopStep):
        requires = ("celery.worker.consumer.tasks:Tasks",)

        def __init__(self, parent: Any, **kwargs: Any) -> None:
            super().__init__(parent, **kwargs)
            self._timer_entry: Any = None
            self._running = False

        def start(self, parent: Any) -> None:
            self._running = True
            self._beat(parent)
            if self._timer_entry is None:
                self._timer_entry = parent.timer.call_repeatedly(
                    interval_seconds, self._beat, (parent,), priority=10
                )

        def stop(self, parent: Any) -> None:
            # Not cancelled: eventlet's timer hands back an entry whose cancel() misses the
            # repetition. The beat checks this flag instead, and a restart reuses the entry.
            self._running = False

        def _beat(self, parent: Any) -> None:
            if not self._running:
                return
            try:
                write_heartbeat(path, hostname=parent.hostname)
            except OSError as exc:
                log.warning("heartbeat not written", path=str(path), error=repr(exc))

    return Heartbeat
