"""Exchanges and queues of DESIGN.md section 4, declared identically by every party.

`infra/rabbitmq/definitions.json` (loaded by the broker at boot) is generated from this module
(`bunri broker definitions`), and a test proves the two agree argument for argument: a queue
declared with other arguments than the broker's fails with PRECONDITION_FAILED.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TASK_EXCHANGE = "bunri.tasks"
# Domain events (what happened, for whoever wants to know), by routing key = the event's type.
EVENTS_EXCHANGE = "bunri.events"
DEAD_LETTER_EXCHANGE = "bunri.dlx"
EXCHANGE_TYPES = {TASK_EXCHANGE: "direct", EVENTS_EXCHANGE: "topic", DEAD_LETTER_EXCHANGE: "direct"}

# The domain events' types (their routing keys on `bunri.events`).
SCAN_COMPLETED = "scan.completed"
SCAN_FEEDBACK = "scan.feedback"
CHAT_ANSWERED = "chat.answered"
MAX_PRIORITY = 10
DEFAULT_PRIORITY = 5
LOW_PRIORITY = 1


@dataclass(frozen=True, slots=True)
class WorkQueue:
    name: str
    max_length: int
    message_ttl_ms: int
    max_length_bytes: int | None = None
    # Lazy queues keep message bodies on disk, not in the broker's memory: for queues of images.
    lazy: bool = False
    exchange: str = TASK_EXCHANGE
    # The routing keys it is bound with: its name on the task exchange; the event types it takes
    # on the events exchange.
    routing_keys: tuple[str, ...] = ()

    @property
    def bindings(self) -> tuple[tuple[str, str], ...]:
        """(exchange, routing key) pairs: its name on the task exchange, where Celery sends a
        task's retry, and on the events exchange the event types it takes."""
        on_events = tuple((self.exchange, key) for key in self.routing_keys)
        return ((TASK_EXCHANGE, self.name), *on_events)

    @property
    def dead_letter_queue(self) -> str:
        return f"dlq.{self.name}"

    def arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": "classic",  # priorities need classic queues (not quorum) on 3.10
            "x-max-priority": MAX_PRIORITY,
            "x-max-length": self.max_length,
            # A full queue refuses the publisher (who answers 503) rather than dropping the
            # oldest accepted scan, which RabbitMQ's default (drop-head) would do silently.
            "x-overflow": "reject-publish",
            "x-message-ttl": self.message_ttl_ms,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.dead_letter_queue,
        }
        if self.max_length_bytes is not None:
            arguments["x-max-length-bytes"] = self.max_length_bytes
        if self.lazy:
            arguments["x-queue-mode"] = "lazy"
        return arguments


IMAGE_UPLOAD = WorkQueue(
    "scan.image_upload",
    max_length=10_000,
    message_ttl_ms=3_600_000,
    max_length_bytes=2 * 1024**3,
    lazy=True,
)
AI_ANALYSIS = WorkQueue("scan.ai_analysis", max_length=5_000, message_ttl_ms=3_600_000)
CHAT_BATCH = WorkQueue("chat.batch", max_length=1_000, message_ttl_ms=600_000)
PROFILE_PHOTOS = WorkQueue(
    "my.profile_photos",
    max_length=10_000,
    message_ttl_ms=3_600_000,
    max_length_bytes=1024**3,
    lazy=True,
)
# Small messages that must never be refused for want of room (photos have their own queue): a
# week outlives any outage, and past it the reaper sends an erasure again.
ACCOUNT_ERASURE = WorkQueue("my.account_erasure", max_length=100_000, message_ttl_ms=604_800_000)
# The character domain's own copy of the events it counts points from.
CHARACTER_EVENTS = WorkQueue(
    "character.events",
    max_length=1_000_000,
    message_ttl_ms=604_800_000,
    exchange=EVENTS_EXCHANGE,
    routing_keys=(SCAN_COMPLETED, SCAN_FEEDBACK, CHAT_ANSWERED),
)
# Reward campaigns, one chunk of people a message: all must be granted, however long it takes.
CHARACTER_REWARDS = WorkQueue("character.rewards", max_length=100_000, message_ttl_ms=604_800_000)
WORK_QUEUES = (
    IMAGE_UPLOAD,
    AI_ANALYSIS,
    CHAT_BATCH,
    PROFILE_PHOTOS,
    ACCOUNT_ERASURE,
    CHARACTER_EVENTS,
    CHARACTER_REWARDS,
)

# Dead letters wait for the reaper; they are kept on disk and bounded so a stopped reaper cannot
# exhaust the broker (past the bound the oldest dead letter goes first).
DEAD_LETTER_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "classic",
    "x-max-length": 100_000,
    "x-queue-mode": "lazy",
}


def definitions(vhost: str = "/") -> dict[str, Any]:
    """The topology in RabbitMQ's definitions format (what `definitions.json` holds)."""
    exchanges = [
        {
            "name": name,
            "vhost": vhost,
            "type": kind,
            "durable": True,
            "auto_delete": False,
            "internal": False,
            "arguments": {},
        }
        for name, kind in EXCHANGE_TYPES.items()
    ]
    queues = []
    bindings = []
    for queue in WORK_QUEUES:
        queues.append(_queue(queue.name, vhost, queue.arguments()))
        queues.append(_queue(queue.dead_letter_queue, vhost, DEAD_LETTER_ARGUMENTS))
        bindings += [_binding(exchange, queue.name, key, vhost) for exchange, key in queue.bindings]
        bindings.append(
            _binding(DEAD_LETTER_EXCHANGE, queue.dead_letter_queue, queue.dead_letter_queue, vhost)
        )
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": exchanges,
        "queues": queues,
        "bindings": bindings,
    }


def _queue(name: str, vhost: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "vhost": vhost,
        "durable": True,
        "auto_delete": False,
        "arguments": arguments,
    }


def _binding(exchange: str, queue: str, routing_key: str, vhost: str) -> dict[str, Any]:
    return {
        "source": exchange,
        "vhost": vhost,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": routing_key,
        "arguments": {},
    }
