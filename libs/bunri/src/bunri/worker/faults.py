"""Fault injection for tests and chaos runs: a real crash of the real process, on demand."""

from __future__ import annotations

import os
import signal

from bunri.journal import TaskRecord
from bunri.worker.settings import WorkerSettings


def crash_if_marked(payload: bytes, task: TaskRecord, settings: WorkerSettings) -> None:
    """Die at once (SIGKILL, as a native decoder's fault or the OOM killer would) if the payload
    carries the configured marker, every time or only for the first `fault_crash_times`
    deliveries."""
    marker = settings.fault_crash_marker
    if not marker or marker.encode() not in payload:
        return
    if settings.fault_crash_times is None or task.crashes < settings.fault_crash_times:
        os.kill(os.getpid(), signal.SIGKILL)
