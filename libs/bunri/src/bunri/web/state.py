"""Dependencies that hand a route what the app's lifespan put on `app.state`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request


def app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency returning `request.app.state.<name>`. It is `async def` because FastAPI runs
    a plain `def` dependency in its thread pool: a thread hand-off per request for an attribute
    read."""

    async def from_app_state(request: Request) -> Any:
        return getattr(request.app.state, name)

    from_app_state.__name__ = f"app_state_{name}"
    return from_app_state
