"""Time-ordered identifiers (UUID version 7, RFC 9562).

Their leading timestamp keeps B-tree inserts local and makes id order match creation order, which
cursor pagination relies on.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_VERSION_AND_VARIANT = 0x7 << 76 | 0b10 << 62
_last = 0
_lock = threading.Lock()


def uuid7() -> uuid.UUID:
    """A new id, greater than every id this process made before (RFC 9562's monotonic random:
    within one millisecond the next id adds a random step to the last), so rows made one after
    another in one request sort in that order."""
    global _last
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a = rand >> 62 & 0xFFF
    rand_b = rand & ((1 << 62) - 1)
    value = (unix_ms & ((1 << 48) - 1)) << 80 | rand_a << 64 | rand_b | _VERSION_AND_VARIANT
    with _lock:
        if value <= _last:
            value = _next_after(_last, rand)
        _last = value
    return uuid.UUID(int=value)


def _next_after(last: int, rand: int) -> int:
    """`last` plus a random step of up to 2^32, carried across the variant's bits."""
    rand_a = last >> 64 & 0xFFF
    rand_b = last & ((1 << 62) - 1)
    counter = (rand_a << 62 | rand_b) + 1 + (rand & 0xFFFFFFFF)
    unix_ms = last >> 80
    if counter >> 74:  # the 74 random bits ran out within one millisecond: borrow the next
        unix_ms, counter = unix_ms + 1, counter & ((1 << 74) - 1)
    rand_a, rand_b = counter >> 62, counter & ((1 << 62) - 1)
    return unix_ms << 80 | rand_a << 64 | rand_b | _VERSION_AND_VARIANT


def uuid7_time(value: uuid.UUID) -> float | None:
    """When a UUIDv7 was made (Unix seconds), or None for another version."""
    if value.version != 7:
        return None
    return (value.int >> 80) / 1000
