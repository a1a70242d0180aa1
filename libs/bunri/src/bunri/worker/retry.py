"""Retry timing for transient failures (the database, the object store or the broker briefly
away)."""

from __future__ import annotations

import random


def backoff_seconds(retries: int, cap: float = 60.0) -> float:
    """Exponential backoff with equal jitter: 1, 2, 4 ... `cap` seconds, each between half and all
    of that, so the retries spread out yet their total is predictable (ten retries: about four
    minutes of outage survived)."""
    ceiling = min(cap, 2.0**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 (jitter, not secrecy)
