"""my-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bunri.auth import RevocationStore
from bunri.images.errors import ImageTooLarge
from bunri.logging import configure_logging
from bunri.messaging.outbox import publishing
from bunri.profiles import AsyncProfileCache
from bunri.ratelimit import FixedWindowLimiter
from bunri.regions import load_regions
from bunri.storage import create_object_store
from bunri.web.app import attach_resources, create_service_app
from bunri.web.middleware import BodyLimit
from bunri.web.resources import open_cache_redis, open_resources
from my_api import endpoints
from my_api.account import AccountService
from my_api.cache import ResilientProfileCache
from my_api.service import MY_PATH, PHOTO_PATH, ProfileService
from my_api.settings import MyApiSettings

MULTIPART_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: MyApiSettings | None = None) -> FastAPI:
    settings = settings or MyApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings) as resources,
            publishing(settings, resources.sessionmaker) as publisher,
            open_cache_redis(settings, resources) as cache_redis,
        ):
            attach_resources(app, resources)
            app.state.object_store = create_object_store(settings)
            profile_cache = ResilientProfileCache(AsyncProfileCache(cache_redis))
            app.state.profile_service = ProfileService(
                settings,
                resources.engine,
                profile_cache,
                publisher,
                load_regions(),
            )
            app.state.account_service = AccountService(
                settings,
                resources.engine,
                publisher,
                RevocationStore(resources.redis),
                FixedWindowLimiter(
                    resources.redis,
                    "account-deletion",
                    limit=settings.deletion_attempts_per_hour,
                    window_seconds=3600,
                ),
            )
            try:
                yield
            finally:
                await profile_cache.close()

    def body_limit(path: str) -> BodyLimit:
        if path == PHOTO_PATH:
            return BodyLimit(settings.max_image_bytes + MULTIPART_OVERHEAD_BYTES, ImageTooLarge)
        return BodyLimit(settings.max_body_bytes)

    return create_service_app(
        settings=settings,
        title="Bunri my-api",
        description="A person's own page: profile and photo, stats, weekly report, export of "
        "everything stored about them, and account deletion.",
        docs_prefix=MY_PATH,
        routers=[endpoints.router],
        lifespan=lifespan,
        body_limit_for_path=body_limit,
    )
