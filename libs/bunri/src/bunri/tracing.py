"""W3C trace context (https://www.w3.org/TR/trace-context/, `traceparent` version 00), carried
from an HTTP request through every message it causes, so one trace id finds a scan's log lines in
scan-api, the storage worker and the AI worker.

Each hop (a request, a task) is a span of its own: a new span id whose parent is the span id that
arrived. Nothing is exported; the ids exist for the logs (see `bound_span`). Deliberately small
(a regular expression, a few random bits) rather than an SDK: it runs on the accept path.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import structlog

TRACEPARENT_HEADER = "traceparent"

# version-trace_id-parent_id-flags; a later version may append fields after a dash.
_TRACEPARENT = re.compile(
    r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?", re.ASCII
)
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
SAMPLED = "01"


@dataclass(frozen=True, slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    flags: str = SAMPLED

    @property
    def traceparent(self) -> str:
        """The header for whatever this span calls or publishes: this span is their parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


@dataclass(frozen=True, slots=True)
class Parent:
    """What a valid incoming `traceparent` says."""

    trace_id: str
    span_id: str
    flags: str


def parse_traceparent(value: str | bytes | None) -> Parent | None:
    """The incoming parent, or None for a missing or invalid header (which starts a new trace,
    as the specification asks)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
        return None
    # Only the sampled bit is defined in version 00; others are not passed on.
    return Parent(trace_id, span_id, "01" if int(flags, 16) & 1 else "00")


def start_span(incoming: str | bytes | None = None) -> Span:
    """A new span: the child of `incoming` when that is a valid traceparent, else the root of a
    new trace."""
    parent = parse_traceparent(incoming)
    if parent is None:
        return Span(_new_trace_id(), _new_span_id(), None)
    return Span(parent.trace_id, _new_span_id(), parent.span_id, parent.flags)


# Process-wide random ids are enough: they only need to be unique, not secret. The random module
# reseeds itself in a forked child, so pool children do not repeat their parent's ids.
def _new_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def _new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


_current: ContextVar[Span | None] = ContextVar("bunri_span", default=None)


def current_span() -> Span | None:
    return _current.get()


def outgoing_traceparent() -> str | None:
    """The `traceparent` for a message published now, or None outside any trace."""
    span = _current.get()
    return span.traceparent if span is not None else None


@contextmanager
def bound_span(span: Span, **log_context: object) -> Iterator[Span]:
    """Make `span` current, so that its ids (see `add_span_ids`) and `log_context` are on every
    log line until the block ends."""
    token = _current.set(span)
    try:
        with structlog.contextvars.bound_contextvars(**log_context):
            yield span
    finally:
        _current.reset(token)


def add_span_ids(_: object, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    """A structlog processor: the current span's ids on the log line. Read from the one context
    variable at logging time, which costs a request less than binding three."""
    span = _current.get()
    if span is not None:
        event["trace_id"] = span.trace_id
        event["span_id"] = span.span_id
        if span.parent_span_id is not None:
            event["parent_span_id"] = span.parent_span_id
    return event
