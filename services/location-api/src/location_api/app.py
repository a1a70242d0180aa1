"""location-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from bunri.locations.breaker import CircuitBreaker
from bunri.locations.kakao import KakaoLocal
from bunri.locations.kinds import LOCATIONS_PATH
from bunri.locations.nearby import NearbySearch
from bunri.logging import configure_logging
from bunri.web.app import attach_resources, create_service_app
from bunri.web.resources import open_cache_redis, open_resources
from location_api import endpoints
from location_api.service import LocationService
from location_api.settings import LocationApiSettings


def create_app(settings: LocationApiSettings | None = None) -> FastAPI:
    settings = settings or LocationApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            resources = await stack.enter_async_context(open_resources(settings))
            cache_redis = await stack.enter_async_context(open_cache_redis(settings, resources))
            provider = None
            if settings.kakao_rest_api_key is not None:
                provider = KakaoLocal(
                    settings.kakao_rest_api_key.get_secret_value(),
                    base_url=settings.kakao_base_url,
                    timeout_seconds=settings.kakao_timeout_seconds,
                    breaker=CircuitBreaker(),
                )
                stack.push_async_callback(provider.aclose)
            search = NearbySearch(resources.engine, cache_redis, provider)
            stack.push_async_callback(search.close)
            attach_resources(app, resources)
            app.state.location_service = LocationService(resources.engine, search)
            yield

    return create_service_app(
        settings=settings,
        title="Bunri location-api",
        description="Where to take it: collection points for batteries, lamps, clothes, "
        "medicines, small appliances and recycling centres near a position, from public lists "
        "(PostGIS) and Kakao Local where ours are few, cached in Redis by location cell.",
        docs_prefix=LOCATIONS_PATH,
        routers=[endpoints.router],
        lifespan=lifespan,
    )
