from __future__ import annotations

from bunri.errors import BunriError


class QueueFull(BunriError):
    """The broker refused the message (reject-publish): push back on the client."""

    status_code = 503
    code = "queue_full"
    message = "We are receiving more scans than we can take right now; try again shortly."

    def __init__(self, retry_after_seconds: int = 10) -> None:
        super().__init__(headers={"Retry-After": str(retry_after_seconds)})


class BrokerUnavailable(Exception):
    """The broker cannot be reached or did not confirm in time: the message goes to the outbox."""
