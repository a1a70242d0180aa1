"""`traceparent` (W3C trace context, version 00): what is accepted, what starts a new trace, and
how a span is bound to the log context."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from bunri.logging import configure_logging, get_logger
from bunri.tracing import (
    bound_span,
    current_span,
    outgoing_traceparent,
    parse_traceparent,
    start_span,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_a_valid_header_is_parsed() -> None:
    parent = parse_traceparent(VALID)
    assert parent is not None
    assert (parent.trace_id, parent.span_id, parent.flags) == (TRACE_ID, SPAN_ID, "01")
    assert parse_traceparent(VALID.encode()) == parent
    unsampled = parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-00")
    assert unsampled is not None
    assert unsampled.flags == "00"


def test_a_later_version_is_read_as_far_as_version_00_goes() -> None:
    parent = parse_traceparent(f"cc-{TRACE_ID}-{SPAN_ID}-09-what-the-future-adds")
    assert parent is not None
    assert (parent.trace_id, parent.span_id, parent.flags) == (TRACE_ID, SPAN_ID, "01")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"00-{TRACE_ID}-{SPAN_ID}",  # no flags
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # upper-case hex
        f"00-{'0' * 32}-{SPAN_ID}-01",  # the invalid trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # the invalid span id
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # the forbidden version
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has nothing after the flags
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",  # a short trace id
        f"00-{TRACE_ID}-{SPAN_ID}x-01",
        f"0-{TRACE_ID}-{SPAN_ID}-01",
        f"00_{TRACE_ID}_{SPAN_ID}_01",
    ],
)
def test_invalid_headers_are_ignored(header: str | None) -> None:
    assert parse_traceparent(header) is None
    started = start_span(header)
    assert started.parent_span_id is None
    assert started.trace_id != TRACE_ID
    assert len(started.trace_id) == 32
    assert int(started.trace_id, 16) != 0
    assert len(started.span_id) == 16
    assert int(started.span_id, 16) != 0


def test_a_span_continues_its_parents_trace_with_an_id_of_its_own() -> None:
    span = start_span(VALID)
    assert span.trace_id == TRACE_ID
    assert span.parent_span_id == SPAN_ID
    assert span.span_id != SPAN_ID
    assert span.traceparent == f"00-{TRACE_ID}-{span.span_id}-01"
    child = start_span(span.traceparent)
    assert (child.trace_id, child.parent_span_id) == (TRACE_ID, span.span_id)


def test_new_traces_do_not_repeat() -> None:
    assert len({start_span(None).trace_id for _ in range(1000)}) == 1000


def test_a_bound_span_is_current_and_on_every_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(service="tracing-test", json=True)
    capsys.readouterr()
    assert current_span() is None
    assert outgoing_traceparent() is None
    span = start_span(VALID)
    with bound_span(span, scan_id="s-1"):
        assert current_span() is span
        assert outgoing_traceparent() == span.traceparent
        get_logger("test").info("inside")
    get_logger("test").info("outside")
    assert current_span() is None
    inside, outside = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert inside["trace_id"] == TRACE_ID
    assert inside["span_id"] == span.span_id
    assert inside["parent_span_id"] == SPAN_ID
    assert inside["scan_id"] == "s-1"
    assert not {"trace_id", "span_id", "parent_span_id", "scan_id"} & outside.keys()
    logging.getLogger().handlers.clear()
    structlog.contextvars.clear_contextvars()
