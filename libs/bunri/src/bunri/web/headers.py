"""Headers every answer carries, whatever route made it (errors and 404s included).

- `X-Content-Type-Options: nosniff` everywhere: a browser never runs an answer as another type
  than it says (an uploaded image served back as a script).
- `Cache-Control: no-store` on an answer to an authenticated request that set no caching of its
  own: a person's data is never kept by a shared cache or on disk. Routes that cache on purpose
  (the profile and the character, `private, no-cache` with an ETag) say so themselves.
- A Content-Security-Policy on the API docs (Swagger UI: its script and style from the CDN it
  loads them from, nothing else), and `frame-ancestors 'none'` with it.

HSTS is the TLS edge's to send (the production gateway), not a service's: a service behind it
speaks plain HTTP.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_POLICY = (
    "default-src 'none'; "
    "script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, docs_path: str) -> None:
        self._app = app
        self._docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        authenticated = any(name == b"authorization" for name, _ in scope["headers"])
        docs = scope["path"] == self._docs_path

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if authenticated and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if docs:
                    headers["Content-Security-Policy"] = DOCS_POLICY
            await send(message)

        await self._app(scope, receive, send_with_headers)
