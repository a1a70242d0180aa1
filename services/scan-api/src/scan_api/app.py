"""scan-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bunri.images.errors import ImageTooLarge
from bunri.logging import configure_logging
from bunri.messaging.outbox import publishing
from bunri.scans.views import SCANS_PATH
from bunri.storage import create_object_store
from bunri.web.app import attach_resources, create_service_app
from bunri.web.memory import keep_freed_upload_buffers
from bunri.web.middleware import BodyLimit
from bunri.web.openapi import document_schemas
from bunri.web.resources import open_resources
from scan_api import endpoints
from scan_api.events import ScanEventHub
from scan_api.limits import ScanLimits
from scan_api.schemas import ScanEventFrame
from scan_api.service import ScanService
from scan_api.settings import ScanApiSettings

MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: ScanApiSettings | None = None) -> FastAPI:
    settings = settings or ScanApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    keep_freed_upload_buffers(settings.max_image_bytes + MULTIPART_OVERHEAD_BYTES)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings) as resources,
            publishing(settings, resources.sessionmaker) as publisher,
        ):
            attach_resources(app, resources)
            hub = ScanEventHub(resources.redis)
            await hub.start()
            app.state.publisher = publisher
            app.state.event_hub = hub
            app.state.object_store = create_object_store(settings)
            app.state.scan_service = ScanService(
                settings, publisher, resources.engine, ScanLimits(resources.redis, settings)
            )
            try:
                yield
            finally:
                await hub.close()

    def body_limit(path: str) -> BodyLimit:
        if path == SCANS_PATH:
            return BodyLimit(settings.max_image_bytes + MULTIPART_OVERHEAD_BYTES, ImageTooLarge)
        return BodyLimit(settings.max_body_bytes)

    app = create_service_app(
        settings=settings,
        title="Bunri scan-api",
        description="Accepts waste photos and reports what they are and how to dispose of them.",
        docs_prefix=SCANS_PATH,
        routers=[endpoints.router],
        lifespan=lifespan,
        body_limit_for_path=body_limit,
    )
    document_schemas(app, {ScanEventFrame.__name__: ScanEventFrame})
    return app
