"""Exception handlers that turn every failure into the error body of DESIGN.md section 8."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from bunri.errors import BunriError, DependencyUnavailable
from bunri.logging import get_logger
from bunri.web.text import INVALID_TEXT

log = get_logger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    503: "service_unavailable",
}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


async def _bunri_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BunriError)
    return error_response(exc.status_code, exc.code, exc.detail, exc.headers or None, **exc.extra)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "malformed_json", "The request body is not valid JSON.")
    details = [
        {
            "field": ".".join(str(part) for part in error.get("loc", ()) if part != "body"),
            "message": error.get("msg", "invalid value"),
            "type": error.get("type", "value_error"),
        }
        for error in errors
    ]
    refused_text = [detail for detail in details if detail["type"] == INVALID_TEXT]
    if refused_text:
        # A control character in a text field (bunri.web.text) has its own code, for clients to
        # tell "strip what you pasted" from a malformed request.
        first = refused_text[0]
        text_problem = str(first["message"]).removeprefix("The text ")
        message = f"The field '{first['field']}' {text_problem}"
        return error_response(422, INVALID_TEXT, message, details=details)
    first = details[0] if details else {"field": "", "message": "invalid input"}
    where = f" ({first['field']})" if first["field"] else ""
    return error_response(422, "validation_error", f"{first['message']}{where}", details=details)


async def _dependency_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("dependency unavailable", path=request.url.path, error=repr(exc))
    unavailable = DependencyUnavailable()
    return error_response(
        unavailable.status_code, unavailable.code, unavailable.detail, unavailable.headers
    )


# A database or Redis that cannot be reached, or whose connections are all taken for longer than
# the pool waits, is an outage to wait out (503), not a bug (500).
DEPENDENCY_OUTAGES: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    InterfaceError,
    PoolTimeout,
    OSError,
    TimeoutError,
)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BunriError, _bunri_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for outage in DEPENDENCY_OUTAGES:
        app.add_exception_handler(outage, _dependency_error)
    # Anything else is a bug: RequestContextMiddleware answers 500 and logs it with the request id.


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error answer (DESIGN.md section 8)."""

    error: ErrorDetail


def documented_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error answers a route can give."""
    return {status: {"model": ErrorBody} for status in statuses}
