"""Why a message was dead-lettered, from RabbitMQ's `x-death` header or from our own header (a
worker dead-letters poison itself: classic queues keep no delivery count)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEAD_LETTER_REASON_HEADER = "x-bunri-dead-letter-reason"

EXPIRED = "expired"
REJECTED = "rejected"
POISON = "poison"
QUEUE_FULL = "queue_full"

# RabbitMQ's reasons (https://www.rabbitmq.com/docs/dlx) in our words.
_BROKER_REASONS = {
    "expired": EXPIRED,
    "rejected": REJECTED,
    "maxlen": QUEUE_FULL,
    "delivery_limit": POISON,
}

MESSAGES = {
    EXPIRED: "The scan waited too long in the queue and expired; please try again.",
    REJECTED: "The scan's task was refused by the worker; please try again.",
    POISON: "This image crashed our workers repeatedly, so we stopped trying it.",
    QUEUE_FULL: "Our queue was full and the scan could not be processed; please try again.",
}


def dead_letter_reason(headers: Mapping[str, Any] | None) -> str:
    """Our reason for a dead-lettered message; `rejected` when nothing more is known."""
    headers = headers or {}
    own = headers.get(DEAD_LETTER_REASON_HEADER)
    if isinstance(own, bytes):
        own = own.decode()
    if isinstance(own, str) and own in MESSAGES:
        return own
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths:
        # The newest death first; its reason is why the message is here now.
        reason = deaths[0].get("reason") if isinstance(deaths[0], Mapping) else None
        if isinstance(reason, bytes):
            reason = reason.decode()
        if isinstance(reason, str):
            return _BROKER_REASONS.get(reason, REJECTED)
    return REJECTED
