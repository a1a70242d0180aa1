from __future__ import annotations

from pydantic import Field

from bunri.settings import BunriSettings


class MetricsSettings(BunriSettings):
    """For the processes that are not HTTP services (the workers, the reaper): services serve
    /metrics on their own port."""

    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve Prometheus /metrics (and /healthz, from the heartbeat) on this port "
        "from the process's main process; unset: no server.",
    )
