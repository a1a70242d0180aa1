"""What every service gets from `create_service_app`: error bodies of one shape for every failure,
request ids, body limits, health and readiness, and its OpenAPI docs."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Response
from pydantic import BaseModel
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from bunri.errors import NotFound
from bunri.logging import configure_logging
from bunri.settings import BunriSettings, Environment
from bunri.web.app import create_service_app, resources_lifespan
from bunri.web.deps import SessionDep
from bunri.web.middleware import RequestContextMiddleware
from tests.support.servers import free_port


class Item(BaseModel):
    name: str
    count: int


def app_with_routes(settings: BunriSettings) -> FastAPI:
    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such scan.")

    @router.post("/items")
    async def items(item: Item) -> Item:
        return item

    @router.get("/cached")
    async def cached() -> Response:
        return Response("{}", media_type="application/json", headers={"Cache-Control": "private"})

    return create_service_app(
        settings=settings,
        title="t",
        description="d",
        docs_prefix="/api/v1/t",
        routers=[router],
        lifespan=resources_lifespan(settings),
    )


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = BunriSettings(
        environment=Environment.TEST, database_url=database_url, redis_url=redis_url
    )
    app = app_with_routes(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def error_of(response: httpx.Response) -> dict[str, str]:
    error: dict[str, str] = response.json()["error"]
    assert error["message"]
    return error


async def test_an_unexpected_exception_is_a_500_with_the_error_body(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert error_of(response)["code"] == "internal_error"
    assert "a bug" not in response.text  # internals stay in the log


async def test_domain_errors_keep_their_status_code_and_message(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "No such scan."}


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    assert error_of(await client.get("/nowhere"))["code"] == "not_found"
    response = await client.delete("/items")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x", "count": "many"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["field"] == "count"
    assert "(count)" in error["message"]


async def test_request_ids_are_echoed_or_made_up(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "mobile-7f3a.1"})
    assert echoed.headers["x-request-id"] == "mobile-7f3a.1"
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    failed = await client.get("/boom", headers={"X-Request-ID": "trace-me"})
    assert failed.headers["x-request-id"] == "trace-me"


async def test_logs_are_json_lines_carrying_the_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(service="test-service", json=True)
    capsys.readouterr()
    await client.get("/missing", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [line for line in lines if line.get("event") == "request"]
    assert access
    assert access[-1]["request_id"] == "req-42"
    assert access[-1]["status"] == 404
    assert access[-1]["service"] == "test-service"
    assert access[-1]["path"] == "/missing"
    logging.getLogger().handlers.clear()


async def test_bodies_over_the_limit_are_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={"name": "x" * 70_000, "count": 1})
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgresql": "ok", "redis": "ok"}}


async def test_readiness_names_what_is_down(database_url: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = BunriSettings(
        environment=Environment.TEST,
        database_url=f"postgresql+asyncpg://postgres@{dead}/x",
        redis_url=f"redis://{dead}/0",
    )
    app = app_with_routes(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 503
    assert response.headers["retry-after"]
    body = response.json()
    assert body["error"]["code"] == "not_ready"
    assert body["error"]["checks"]["postgresql"].startswith("error")
    assert body["error"]["checks"]["redis"].startswith("error")


async def test_a_database_outage_during_a_request_is_a_503_not_a_500(database_url: str) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = BunriSettings(
        environment=Environment.TEST, database_url=f"postgresql+asyncpg://postgres@{dead}/x"
    )
    app = app_with_routes(settings)

    @app.get("/needs-db")
    async def needs_db(session: SessionDep) -> None:
        await session.execute(text("SELECT 1"))

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        response = await client.get("/needs-db")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "dependency_unavailable"
    assert response.headers["retry-after"]


async def test_the_openapi_docs_are_served_under_the_service_prefix(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/v1/t/docs")).status_code == 200
    spec = (await client.get("/api/v1/t/openapi.json")).json()
    assert "/items" in spec["paths"]


async def test_every_answer_is_nosniff_and_an_authenticated_one_not_stored(
    client: httpx.AsyncClient,
) -> None:
    bearer = {"Authorization": "Bearer x"}
    for response in (
        await client.post("/items", json={"name": "a", "count": 1}),
        await client.get("/missing"),
        await client.get("/nowhere"),
        await client.get("/boom"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in response.headers  # nobody's own data: no opinion
    for path in ("/missing", "/nowhere"):
        authenticated = await client.get(path, headers=bearer)
        assert authenticated.headers["cache-control"] == "no-store"
    # A route that says how it may be cached keeps its word.
    assert (await client.get("/cached", headers=bearer)).headers["cache-control"] == "private"
    docs = await client.get("/api/v1/t/docs")
    policy = docs.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "content-security-policy" not in (await client.get("/missing")).headers


@pytest.mark.parametrize(("accept", "status"), [(True, 101), (False, 403)])
async def test_a_websocket_is_logged_with_its_handshake_answer(
    accept: bool, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    async def chat(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        if accept:
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "hello"})
        await send({"type": "websocket.close", "code": 1000})

    async def client_says() -> Message:
        return {"type": "websocket.connect"}

    sent: list[Message] = []

    async def server_sends(message: Message) -> None:
        sent.append(message)

    configure_logging(service="test-service", json=True)
    capsys.readouterr()
    scope: Scope = {"type": "websocket", "path": "/api/v1/chat/ws", "headers": []}
    await RequestContextMiddleware(chat)(scope, client_says, server_sends)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [line for line in lines if line.get("event") == "request"]
    assert (access[-1]["method"], access[-1]["status"]) == ("WS", status)
    assert [message["type"] for message in sent][-1] == "websocket.close"
    logging.getLogger().handlers.clear()
