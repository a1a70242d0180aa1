"""`bunri-scan-api`: serve scan-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from scan_api.settings import ScanApiSettings


def main() -> None:
    settings = ScanApiSettings()
    serve(
        "scan_api.app:create_app",
        settings,
        host=settings.scan_api_host,
        port=settings.scan_api_port,
        workers=settings.scan_api_workers,
    )
