"""Request latency of the HTTP services, by method, route template (never the raw path: one
series per route, not per scan id) and status code."""

from __future__ import annotations

from prometheus_client import Histogram

# Finer where the accept path lives (its p50 target is 8 ms).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

HTTP_REQUEST_SECONDS = Histogram(
    "bunri_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

UNMATCHED_ROUTE = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# The labelled child per (method, route, status): looked up in a plain dict, skipping
# prometheus_client's label validation and lock on every request.
_children: dict[tuple[str, str, int], Histogram] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # A client can send any method name; each would be a series of its own.
    key = (method if method in _KNOWN_METHODS else "OTHER", route, status)
    child = _children.get(key)
    if child is None:
        child = _children.setdefault(key, HTTP_REQUEST_SECONDS.labels(key[0], route, str(status)))
    child.observe(seconds)
