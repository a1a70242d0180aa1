"""Errors that carry their own HTTP meaning: a status, a machine-readable code and a human message.

Domain code raises these; the web layer renders them as `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class BunriError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ):
        self.detail = message or self.message
        self.headers = dict(headers or {})
        # More members of the error object, beside code and message (a conflict's current state).
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class Forbidden(BunriError):
    status_code = 403
    code = "forbidden"
    message = "You may not do this."


class NotFound(BunriError):
    status_code = 404
    code = "not_found"
    message = "Nothing exists at this address."


class Conflict(BunriError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class RateLimited(BunriError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; try again later."

    def __init__(self, retry_after_seconds: int, message: str | None = None):
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailable(BunriError):
    status_code = 503
    code = "dependency_unavailable"
    message = "A service this request needs is unavailable; try again shortly."

    def __init__(self, message: str | None = None, retry_after_seconds: int = 5):
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class BodyTooLarge(BunriError):
    status_code = 413
    code = "body_too_large"
    message = "The request body is larger than this endpoint accepts."
