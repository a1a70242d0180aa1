from __future__ import annotations

from pydantic import Field

from bunri.settings import BrokerSettings


class ScanApiSettings(BrokerSettings):
    service_name: str = "scan-api"

    scan_api_host: str = "127.0.0.1"
    scan_api_port: int = 8002
    scan_api_workers: int = Field(default=1, ge=1)

    max_note_chars: int = Field(default=500, ge=0)
    idempotency_window_seconds: int = Field(default=24 * 3600, ge=60)
    scan_priority: int = Field(default=5, ge=0, le=10)
    scan_burst: int = Field(
        default=20, ge=1, description="Scans a person may send at once (a token bucket's size)."
    )
    scans_per_minute: float = Field(
        default=10, gt=0, description="How fast a person's burst refills: their sustained rate."
    )
    scans_in_flight_per_user: int = Field(
        default=20, ge=1, description="A person's scans not yet completed or failed, at most."
    )
    busy_scan_priority: int = Field(
        default=1,
        ge=0,
        le=10,
        description="The priority of a person's scans once they have used half their burst, so "
        "that everyone else's go first (scan_priority is everyday use's).",
    )
    sse_keepalive_seconds: float = Field(default=15.0, gt=0)
    image_url_ttl_seconds: int = Field(default=300, ge=10)
