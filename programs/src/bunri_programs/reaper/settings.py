from __future__ import annotations

from pydantic import Field

from bunri.heartbeat import HeartbeatSettings
from bunri.metrics.settings import MetricsSettings
from bunri.settings import BrokerSettings


class ReaperSettings(MetricsSettings, HeartbeatSettings, BrokerSettings):
    service_name: str = "reaper"

    reaper_prefetch: int = Field(default=20, ge=1)
    reaper_sweep_interval_seconds: float = Field(default=60.0, gt=0)
    scan_stalled_after_minutes: float = Field(
        default=180.0,
        gt=0,
        description="A scan that has not moved for this long is failed as `stalled`: longer than "
        "a queue's TTL (60 min) plus every retry's backoff.",
    )
    photo_stalled_after_minutes: float = Field(
        default=120.0,
        gt=0,
        description="A profile photo still processing after this long is failed as `stalled`: "
        "longer than its queue's TTL (60 min) plus every retry's backoff.",
    )
    erasure_overdue_minutes: float = Field(
        default=60.0,
        gt=0,
        description="An account asked to be deleted this long ago and still there: its erasure "
        "was lost (dead-lettered, or its message expired) and is sent again.",
    )
