"""A stand-in for any Bunri service that accepts access tokens: one protected route, built with
the same shared assembly (`create_service_app`, `resources_lifespan`, `CurrentUser`)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from bunri.settings import BunriSettings
from bunri.web.app import create_service_app, resources_lifespan
from bunri.web.auth import CurrentUser


def resource_server(settings: BunriSettings) -> FastAPI:
    router = APIRouter()

    @router.get("/api/v1/whoami")
    async def whoami(user: CurrentUser) -> dict[str, str]:
        return {"user_id": str(user.user_id), "session_id": str(user.session_id)}

    return create_service_app(
        settings=settings,
        title="resource server",
        description="test",
        docs_prefix="/api/v1/test",
        routers=[router],
        lifespan=resources_lifespan(settings),
    )
