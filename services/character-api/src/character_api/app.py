"""character-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bunri.character.missions import load_missions
from bunri.character.rules import load_rules
from bunri.logging import configure_logging
from bunri.messaging.outbox import publishing
from bunri.regions import load_regions
from bunri.web.app import attach_resources, create_service_app
from bunri.web.resources import open_cache_redis, open_resources
from character_api import endpoints
from character_api.service import CHARACTER_PATH, CharacterService
from character_api.settings import CharacterApiSettings


def create_app(settings: CharacterApiSettings | None = None) -> FastAPI:
    settings = settings or CharacterApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    # A mistake in the rules or missions stops the service here, not at someone's claim.
    rules = load_rules(settings.character_rules_path)
    missions = load_missions(settings.character_missions_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            open_resources(settings) as resources,
            # The outbox relay: a campaign started here goes out at once.
            publishing(settings, resources.sessionmaker),
            open_cache_redis(settings, resources) as cache_redis,
        ):
            attach_resources(app, resources)
            app.state.character_service = CharacterService(
                resources.sessionmaker,
                cache_redis,
                rules,
                missions,
                load_regions(),
                settings.claim_attempts,
            )
            yield

    return create_service_app(
        settings=settings,
        title="Bunri character-api",
        description="A character that grows with every item sorted: points (exactly once per "
        "event), levels and stages, daily and weekly missions, leaderboards, reward campaigns.",
        docs_prefix=CHARACTER_PATH,
        routers=[endpoints.router],
        lifespan=lifespan,
    )
