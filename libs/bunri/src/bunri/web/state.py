"""Dependencies that hand a route what the app's lifespan put on `app.state`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import HTTPConnection


def app_state(name: str) -> Callable[[HTTPConnection], Awaitable[Any]]:
    """A dependency returning `app.state.<name>`, for HTTP routes and WebSockets alike. It is
    `async def` because FastAPI runs a plain `def` dependency in its thread pool: a thread
    hand-off per request for an attribute read."""

    async def from_app_state(connection: HTTPConnection) -> Any:
        return getattr(connection.app.state, name)

    from_app_state.__name__ = f"app_state_{name}"
    return from_app_state
