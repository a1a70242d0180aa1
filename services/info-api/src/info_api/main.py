"""`bunri-info-api`: serve info-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from info_api.settings import InfoApiSettings


def main() -> None:
    settings = InfoApiSettings()
    serve(
        "info_api.app:create_app",
        settings,
        host=settings.info_api_host,
        port=settings.info_api_port,
        workers=settings.info_api_workers,
    )
