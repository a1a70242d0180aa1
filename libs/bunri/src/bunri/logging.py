"""Structured logging: one JSON object per line, carrying the ids bound to the current context.

Everything goes through the standard library's root logger (uvicorn's, SQLAlchemy's and Celery's
records included), rendered by structlog, so a log shipper sees one format.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from bunri.tracing import add_span_ids

_SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    add_span_ids,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
    structlog.processors.format_exc_info,
]


_service = {"name": "bunri"}


def _add_service(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    event.setdefault("service", _service["name"])
    return event


def configure_logging(*, service: str, level: str = "INFO", json: bool = True) -> None:
    """Route all logging through structlog; call once at process start."""
    _service["name"] = service
    processors = [*_SHARED_PROCESSORS, _add_service]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True

    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger


@contextmanager
def without_context(*names: str) -> Iterator[None]:
    """Log lines inside leave out these bound names (an audit line that must not name a person);
    they are bound again after."""
    bound = structlog.contextvars.get_contextvars()
    removed = {name: bound[name] for name in names if name in bound}
    structlog.contextvars.unbind_contextvars(*removed)
    try:
        yield
    finally:
        structlog.contextvars.bind_contextvars(**removed)
