"""An HTTP reverse proxy that answers every request a fixed time later: S3 as EC2 sees it (10-30 ms
a PUT) in front of moto on loopback (about a millisecond). Run as its own process, so that its CPU
is not the benchmark's and can be counted apart:

    .venv/bin/python -m bench.latency_proxy UPSTREAM_URL PORT LATENCY_MS

tests/support/slow_proxy.py does the same for tests, but opens an httpx client per request, which
costs about 26 ms of CPU (its TLS context): more than normalising a photo, on the same two cores as
the worker it would be measuring. This one keeps one pooled client, and speaks raw ASGI.
"""

from __future__ import annotations

import argparse
import asyncio

import httpx
import uvicorn
from starlette.types import Message, Receive, Scope, Send

# Not forwarded: they describe one hop. `expect`: uvicorn has already answered boto's
# `100-continue` (a loopback round trip, as S3's is in-region); the body is read whole.
HOP_BY_HOP = {
    "host",
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
    "expect",
    # httpx hands back the body decoded: its length and encoding are this hop's to state.
    "content-encoding",
}


class LatencyProxy:
    def __init__(self, upstream: str, latency_seconds: float) -> None:
        self._upstream = upstream.rstrip("/")
        self._latency = latency_seconds
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if self._latency:
            await asyncio.sleep(self._latency)
        url = self._upstream + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        upstream = await self._pooled_client().request(
            scope["method"], url, headers=headers, content=bytes(body)
        )
        content = upstream.content
        response_headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in upstream.headers.multi_items()
            if name.lower() not in HOP_BY_HOP
        ]
        response_headers.append((b"content-length", str(len(content)).encode()))
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status_code,
                "headers": response_headers,
            }
        )
        await send({"type": "http.response.body", "body": content})

    def _pooled_client(self) -> httpx.AsyncClient:
        # Made on first use, inside the server's event loop; enough connections for every
        # request a worker can have in flight (boto's pool is BUNRI_S3_MAX_CONNECTIONS, 50).
        if self._client is None:
            limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
            self._client = httpx.AsyncClient(limits=limits, timeout=60)
        return self._client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("port", type=int)
    parser.add_argument("latency_ms", type=float)
    args = parser.parse_args()
    uvicorn.run(
        LatencyProxy(args.upstream, args.latency_ms / 1000),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
