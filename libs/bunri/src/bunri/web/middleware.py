"""Pure ASGI middleware (no per-request task or body copy, unlike BaseHTTPMiddleware)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bunri.errors import BodyTooLarge, BunriError
from bunri.logging import get_logger
from bunri.metrics.http import UNMATCHED_ROUTE, observe_request
from bunri.tracing import TRACEPARENT_HEADER, bound_span, start_span
from bunri.web.errors import error_body

access_log = get_logger("bunri.access")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


_REQUEST_ID_NAME = REQUEST_ID_HEADER.encode()
_TRACEPARENT_NAME = TRACEPARENT_HEADER.encode()
_ACCESS_LOG_FIELDS = "access_log_fields"


def incoming_ids(scope: Scope) -> tuple[str, bytes | None]:
    """The caller's X-Request-ID when it is safe to log and echo, else a fresh one; and the
    caller's traceparent, if any (one pass over the headers)."""
    request_id: str | None = None
    traceparent: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_NAME and request_id is None:
            candidate: str = value.decode("latin-1")
            request_id = candidate if _SAFE_REQUEST_ID.match(candidate) else ""
        elif name == _TRACEPARENT_NAME and traceparent is None:
            traceparent = value
    return request_id or uuid.uuid4().hex, traceparent


def add_to_access_log(scope: Scope, **fields: object) -> None:
    """Fields for this request's access line, e.g. the id of the scan it accepted (bound to
    the log context instead, they would outlive the request under an in-process client)."""
    scope.setdefault("state", {}).setdefault(_ACCESS_LOG_FIELDS, {}).update(fields)


def route_template(scope: Scope) -> str:
    """The matched route's path template (/api/v1/scans/{scan_id}), never the raw path."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


_INTERNAL_ERROR = json.dumps(
    error_body("internal_error", "Something went wrong on our side."), separators=(",", ":")
).encode()
_INTERNAL_ERROR_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
    ],
}


def answered_status(message: Message) -> int | None:
    """The status a response or WebSocket handshake answered with, from its first message: a
    WebSocket accepted is 101 and one closed before that was refused (403, as servers answer)."""
    kind = message["type"]
    if kind in ("http.response.start", "websocket.http.response.start"):
        return int(message["status"])
    if kind == "websocket.accept":
        return 101
    if kind == "websocket.close":
        return 403
    return None


class RequestContextMiddleware:
    """Gives every request an id and a span of the caller's trace (or of a new one), binds both
    to the log context, echoes them (X-Request-ID, traceparent), logs one access line and times
    the request for /metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id, traceparent = incoming_ids(scope)
        span = start_span(traceparent)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if status is None:  # once the answer has begun, a chat's frames pass straight on
                status = answered_status(message)
                if message["type"] == "http.response.start":
                    headers = MutableHeaders(scope=message)
                    headers[REQUEST_ID_HEADER] = request_id
                    headers[TRACEPARENT_HEADER] = span.traceparent
            await send(message)

        with bound_span(span, request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                # Handled here rather than by Starlette's outermost handler so that the log line
                # and the 500 answer both carry the request id. A bug, by definition.
                access_log.exception("unhandled error", path=scope["path"])
                if status is None and scope["type"] == "http":
                    await send_with_id(_INTERNAL_ERROR_START)
                    await send_with_id({"type": "http.response.body", "body": _INTERNAL_ERROR})
            finally:
                seconds = time.perf_counter() - started
                route = route_template(scope)
                if scope["type"] == "http":
                    # A WebSocket's duration is the conversation's, not a latency.
                    observe_request(scope["method"], route, status or 500, seconds)
                access_log.info(
                    "request",
                    method=scope.get("method", "WS"),
                    path=scope["path"],
                    route=route,
                    status=status or 500,
                    duration_ms=round(seconds * 1000, 2),
                    **scope["state"].get(_ACCESS_LOG_FIELDS, {}),
                )


@dataclass(frozen=True, slots=True)
class BodyLimit:
    max_bytes: int
    error: type[BunriError] = BodyTooLarge


class BodySizeLimitMiddleware:
    """Refuses bodies over a limit, by Content-Length up front or by counting a streamed body."""

    def __init__(self, app: ASGIApp, limit_for_path: Callable[[str], BodyLimit]) -> None:
        self.app = app
        self.limit_for_path = limit_for_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await _send_too_large(send, limit)
            return
        received = 0
        refused = False

        async def counting_receive() -> Message:
            # Past the limit we answer 413 ourselves and tell the app the client left, so that
            # whatever the app does with the body it cannot turn this into another answer.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    refused = True
                    await _send_too_large(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, send_unless_refused)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send, limit: BodyLimit) -> None:
    message = f"{limit.error.message} The limit is {limit.max_bytes:,} bytes."
    body = json.dumps(error_body(limit.error.code, message), separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": limit.error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
