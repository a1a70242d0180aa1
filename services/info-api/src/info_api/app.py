"""info-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bunri.info.articles import all_articles
from bunri.info.catalogue import catalogue
from bunri.logging import configure_logging
from bunri.web.app import attach_resources, create_service_app
from bunri.web.resources import open_resources
from info_api import endpoints, guides
from info_api.caching import CachePolicy
from info_api.endpoints import INFO_PATH
from info_api.settings import InfoApiSettings


def create_app(settings: InfoApiSettings | None = None) -> FastAPI:
    settings = settings or InfoApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    # Built here, so that a mistake in the guide data or an article stops the service, not a
    # request.
    catalogue()
    all_articles()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings) as resources:
            attach_resources(app, resources)
            app.state.cache_policy = CachePolicy(
                settings.info_max_age_seconds, settings.info_stale_seconds
            )
            yield

    return create_service_app(
        settings=settings,
        title="Bunri info-api",
        description="The disposal guides, and finding any item's rule by typing its name: "
        "Korean as people type it (초성, half-typed syllables, missing spaces, typos) and "
        "English. Public answers with strong ETags, for browsers and CDNs.",
        docs_prefix=INFO_PATH,
        routers=[endpoints.router, guides.router],
        lifespan=lifespan,
    )
