"""Liveness files for the long-running processes that are not Celery workers (the reaper, the
outbox relay): their own loop rewrites the file, and `bunri worker alive PATH` (a container's
health check) checks its age, as for the workers (see bunri.worker.liveness)."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from bunri.logging import get_logger
from bunri.settings import BunriSettings
from bunri.worker.liveness import write_heartbeat

log = get_logger(__name__)


class HeartbeatSettings(BunriSettings):
    heartbeat_path: Path | None = Field(
        default=None,
        description="Liveness file the process's own loop rewrites; default: "
        "<state_dir>/heartbeat/<service_name>.json. Probe it with `bunri worker alive`.",
    )
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)

    @property
    def heartbeat_file(self) -> Path:
        return self.heartbeat_path or self.state_dir / "heartbeat" / f"{self.service_name}.json"


class Heartbeat:
    """Called on every turn of a loop that turns more often than `interval_seconds`; writes the
    file at most once an interval. A loop that stops turning stops the beats."""

    def __init__(self, path: Path, interval_seconds: float) -> None:
        self._path = path
        self._interval_seconds = interval_seconds
        self._last_beat: float | None = None

    def beat(self) -> None:
        now = time.monotonic()
        if self._last_beat is not None and now - self._last_beat < self._interval_seconds:
            return
        self._last_beat = now
        try:
            write_heartbeat(self._path)
        except OSError as exc:
            log.warning("heartbeat not written", path=str(self._path), error=repr(exc))
