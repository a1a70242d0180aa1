"""One base URL with the path routing of DESIGN.md section 1, served by one process: each service
app keeps its own paths (nothing is stripped), so the same URLs work behind nginx in production.

Standalone has no nginx in front, so the gateway does what nginx does there: its own liveness
(`/healthz`), readiness that asks every service (`/readyz`), a bounded wait for a request body,
and each service's name on the log lines of its requests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from contextlib import AsyncExitStack

import httpx
import structlog
from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A service's name, the paths it answers and its app.
Route = tuple[str, tuple[str, ...], FastAPI]

# Which service answers which paths (DESIGN.md section 1): a path belongs to a service when it is
# one of these prefixes or lies under one. docker-compose's gateway (infra/nginx/nginx.conf) routes
# the same way, and tests/deploy hold the two to it.
SERVICE_PREFIXES: dict[str, tuple[str, ...]] = {
    "auth-api": ("/api/v1/auth", "/.well-known"),
    "scan-api": ("/api/v1/scans",),
    "chat-api": ("/api/v1/chat",),
    "my-api": ("/api/v1/my",),
    "character-api": ("/api/v1/character",),
    "location-api": ("/api/v1/locations",),
    "info-api": ("/api/v1/info", "/api/v1/guides"),
}
# nginx's client_body_timeout: the longest wait for the next piece of a request body.
BODY_READ_TIMEOUT_SECONDS = 60.0


def route(service: str, app: FastAPI) -> Route:
    return service, SERVICE_PREFIXES[service], app


class PathRouter:
    def __init__(
        self, routes: Sequence[Route], body_read_timeout: float = BODY_READ_TIMEOUT_SECONDS
    ) -> None:
        self._routes = routes
        self._body_read_timeout = body_read_timeout

    def route_for(self, path: str) -> Route | None:
        for entry in self._routes:
            if any(path == prefix or path.startswith(prefix + "/") for prefix in entry[1]):
                return entry
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        found = self.route_for(scope["path"])
        if found is None:
            if scope["type"] == "http":
                await self._own(scope, receive, send)
            return
        service, _, app = found
        with structlog.contextvars.bound_contextvars(service=service):
            if scope["type"] == "http":
                await _with_body_timeout(app, self._body_read_timeout, scope, receive, send)
            else:
                await app(scope, receive, send)

    async def _own(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The gateway's own paths: the index, liveness, readiness."""
        path = scope["path"]
        if path == "/readyz":
            response = await self._readiness()
        elif path in ("/", "/healthz"):
            body = {
                "service": "bunri standalone",
                "status": "ok",
                "docs": [app.docs_url for _, _, app in self._routes if app.docs_url],
            }
            response = _json(body, 200)
        else:
            error = {"error": {"code": "not_found", "message": "Nothing exists at this address."}}
            response = _json(error, 404)
        await response(scope, receive, send)

    async def _readiness(self) -> Response:
        """Ready when every service is: each one's own /readyz, asked in this process."""

        async def ready(app: FastAPI) -> int:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                return (await client.get("/readyz", timeout=5)).status_code

        codes = await asyncio.gather(*(ready(app) for _, _, app in self._routes))
        services = {
            name: "ready" if code == 200 else "not ready"
            for (name, _, _), code in zip(self._routes, codes, strict=True)
        }
        failing = [name for name, state in services.items() if state != "ready"]
        if not failing:
            return _json({"status": "ready", "services": services}, 200)
        message = f"Not ready: {', '.join(failing)}."
        body = {"error": {"code": "not_ready", "message": message, "services": services}}
        return _json(body, 503, {"Retry-After": "5"})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Start every service's lifespan, and stop them all on shutdown."""
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                for _, _, app in self._routes:
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


async def _with_body_timeout(
    app: ASGIApp, wait_seconds: float, scope: Scope, receive: Receive, send: Send
) -> None:
    """A client that stops sending its body mid-way is answered 408 after `wait_seconds` instead
    of holding the request (and its worker) for ever. The gateway answers at once; the app is
    told the client left, and whatever it sends after is dropped."""
    started = False
    answered = False

    async def bounded_receive() -> Message:
        nonlocal answered
        try:
            return await asyncio.wait_for(receive(), wait_seconds)
        except TimeoutError:
            if not started and not answered:
                answered = True
                error = {
                    "error": {
                        "code": "request_timeout",
                        "message": "The request body did not arrive in time; send it again.",
                    }
                }
                await _json(error, 408, {"Connection": "close"})(scope, receive, send)
            return {"type": "http.disconnect"}

    async def watched_send(message: Message) -> None:
        nonlocal started
        if answered:
            return
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    await app(scope, bounded_receive, watched_send)


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
