"""Publishing to the broker (confirms, refusals, the outbox) and the reaper's dead letters."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_PUBLISHED = Counter(
    "bunri_messages_published_total", "Messages the broker confirmed.", ["queue"]
)
PUBLISH_CONFIRM_SECONDS = Histogram(
    "bunri_publish_confirm_seconds",
    "Time from a publish to the broker's confirm.",
    ["queue"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)


class QueueMetrics(NamedTuple):
    published: Counter
    confirm_seconds: Histogram


@cache
def queue_metrics(queue: str) -> QueueMetrics:
    """A queue's labelled figures, looked up once (labelling costs a microsecond a call)."""
    return QueueMetrics(MESSAGES_PUBLISHED.labels(queue), PUBLISH_CONFIRM_SECONDS.labels(queue))


# Why a publish failed: the broker was not connected, did not confirm in time, refused the
# message (a nack: the queue at its length limit, reject-publish), could not route it, or the
# connection broke during the publish.
NOT_CONNECTED = "not_connected"
CONFIRM_TIMEOUT = "confirm_timeout"
QUEUE_FULL = "queue_full"
UNROUTABLE = "unroutable"
CONNECTION_LOST = "connection_lost"

PUBLISH_FAILURES = Counter(
    "bunri_publish_failures_total",
    "Publishes the broker did not confirm, by queue and reason.",
    ["queue", "reason"],
)
OUTBOX_FALLBACKS = Counter(
    "bunri_outbox_fallbacks_total",
    "Messages written to the outbox because the broker could not take them at accept time.",
    ["queue"],
)
OUTBOX_RELAYED = Counter(
    "bunri_outbox_relayed_total", "Outbox messages the relay published.", ["queue"]
)
OUTBOX_BACKLOG = Gauge(
    "bunri_outbox_backlog_messages",
    "Messages waiting in the outbox (the whole table: every replica reports the same figure).",
    multiprocess_mode="max",
)

DEAD_LETTERS = Counter(
    "bunri_dead_letters_total",
    "Dead letters the reaper handled, by the queue they died in, why, and what it did.",
    ["queue", "reason", "outcome"],
)
