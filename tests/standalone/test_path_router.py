"""The standalone gateway in process: each request's log lines carry the service that answered
it, and readiness is every service's."""

from __future__ import annotations

import httpx
import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from bunri_programs.standalone.gateway import PathRouter, route


def app_that_tells_its_service(ready: bool = True) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/{rest:path}")
    async def which() -> dict[str, object]:
        return {"service": structlog.contextvars.get_contextvars().get("service")}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        return JSONResponse({}, status_code=200 if ready else 503)

    return app


def gateway(chat_ready: bool = True) -> httpx.AsyncClient:
    router = PathRouter(
        [
            route("chat-api", app_that_tells_its_service(chat_ready)),
            route("my-api", app_that_tells_its_service()),
        ]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=router), base_url="http://g")


async def test_each_requests_log_lines_name_the_service_that_answered() -> None:
    async with gateway() as client:
        assert (await client.get("/api/v1/chat/x")).json() == {"service": "chat-api"}
        assert (await client.get("/api/v1/my/profile")).json() == {"service": "my-api"}
    assert "service" not in structlog.contextvars.get_contextvars()


async def test_readiness_is_every_services() -> None:
    async with gateway() as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["services"] == {"chat-api": "ready", "my-api": "ready"}
    async with gateway(chat_ready=False) as client:
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["error"]["code"] == "not_ready"
        assert not_ready.json()["error"]["services"]["chat-api"] == "not ready"
        assert (await client.get("/healthz")).status_code == 200
