"""One base URL with the path routing of DESIGN.md section 1, served by one process: each service
app keeps its own paths (nothing is stripped), so the same URLs work behind nginx in production."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AsyncExitStack

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

Route = tuple[tuple[str, ...], FastAPI]

# Which service answers which paths (DESIGN.md section 1): a path belongs to a service when it is
# one of these prefixes or lies under one. docker-compose's gateway (infra/nginx/nginx.conf) routes
# the same way, and tests/deploy hold the two to it.
SERVICE_PREFIXES: dict[str, tuple[str, ...]] = {
    "auth-api": ("/api/v1/auth", "/.well-known"),
    "scan-api": ("/api/v1/scans", "/api/v1/guides"),
    "chat-api": ("/api/v1/chat",),
    "my-api": ("/api/v1/my",),
    "character-api": ("/api/v1/character",),
    "location-api": ("/api/v1/locations",),
}


class PathRouter:
    def __init__(self, routes: Sequence[Route]) -> None:
        self._routes = routes

    def app_for(self, path: str) -> FastAPI | None:
        for prefixes, app in self._routes:
            if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes):
                return app
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        app = self.app_for(scope["path"])
        if app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "http":
            await _index(self._routes)(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """Start every service's lifespan, and stop them all on shutdown."""
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                for _, app in self._routes:
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                raise
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def _index(routes: Sequence[Route]) -> ASGIApp:
    from starlette.responses import Response

    body = {
        "service": "bunri standalone",
        "docs": [app.docs_url for _, app in routes if app.docs_url],
        "health": "/healthz",
    }
    paths_known = {"/", "/healthz", "/readyz"}

    async def index(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] in paths_known:
            response = Response(json.dumps(body), media_type="application/json")
        else:
            error = {"error": {"code": "not_found", "message": "Nothing exists at this address."}}
            response = Response(json.dumps(error), status_code=404, media_type="application/json")
        await response(scope, receive, send)

    return index
