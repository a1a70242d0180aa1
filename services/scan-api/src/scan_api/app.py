from __future__ import annotations

from fastapi import FastAPI

from bunri.logging import configure_logging
from bunri.web.app import create_service_app, resources_lifespan
from scan_api.settings import ScanApiSettings


def create_app(settings: ScanApiSettings | None = None) -> FastAPI:
    settings = settings or ScanApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    return create_service_app(
        settings=settings,
        title="Bunri scan-api",
        description=(
            "Accepts waste photos and reports what they are and how to dispose of them (the "
            "pipeline arrives with issue 3; health endpoints for now)."
        ),
        docs_prefix="/api/v1/scans",
        routers=[],
        lifespan=resources_lifespan(settings),
    )
