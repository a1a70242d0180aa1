"""An HTTP reverse proxy that adds a fixed latency to every request: a slow S3 in front of the
fast loopback one."""

from __future__ import annotations

import asyncio

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class SlowProxy:
    def __init__(self, upstream: str, latency_seconds: float) -> None:
        self._upstream = upstream.rstrip("/")
        self._latency = latency_seconds
        self.requests = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.requests += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self._latency)
            async with httpx.AsyncClient() as client:
                upstream = await client.request(
                    request.method,
                    f"{self._upstream}{request.url.path}",
                    params=str(request.query_params),
                    headers={k: v for k, v in request.headers.items() if k not in _HOP_BY_HOP},
                    content=body,
                )
        finally:
            self.in_flight -= 1
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        await Response(upstream.content, upstream.status_code, headers)(scope, receive, send)
