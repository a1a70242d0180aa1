from __future__ import annotations

from pydantic import Field

from bunri.settings import BunriSettings


class ScanApiSettings(BunriSettings):
    service_name: str = "scan-api"

    scan_api_host: str = "127.0.0.1"
    scan_api_port: int = 8002
    scan_api_workers: int = Field(default=1, ge=1)
