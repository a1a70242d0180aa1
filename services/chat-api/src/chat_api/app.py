from __future__ import annotations

from fastapi import FastAPI

from bunri.logging import configure_logging
from bunri.web.app import create_service_app, resources_lifespan
from chat_api.settings import ChatApiSettings


def create_app(settings: ChatApiSettings | None = None) -> FastAPI:
    settings = settings or ChatApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    return create_service_app(
        settings=settings,
        title="Bunri chat-api",
        description=(
            "Answers recycling questions (arrives with issue 5; health endpoints for now)."
        ),
        docs_prefix="/api/v1/chat",
        routers=[],
        lifespan=resources_lifespan(settings),
    )
