from __future__ import annotations

from pydantic import Field

from bunri.settings import BunriSettings


class InfoApiSettings(BunriSettings):
    service_name: str = "info-api"

    info_api_host: str = "127.0.0.1"
    info_api_port: int = 8007
    info_api_workers: int = Field(default=1, ge=1)

    info_max_age_seconds: int = Field(
        default=300, ge=0, description="How long a browser or CDN may reuse an answer unasked."
    )
    info_stale_seconds: int = Field(
        default=86_400,
        ge=0,
        description="How long after that it may still answer with it while it asks again.",
    )
