"""`bunri-location-api`: serve location-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from location_api.settings import LocationApiSettings


def main() -> None:
    settings = LocationApiSettings()
    serve(
        "location_api.app:create_app",
        settings,
        host=settings.location_api_host,
        port=settings.location_api_port,
        workers=settings.location_api_workers,
    )
