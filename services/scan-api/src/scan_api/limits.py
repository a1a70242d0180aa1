"""A person's share of the pipeline: how fast they may send, how many of their scans may wait at
once, and at which priority, so that one heavy user cannot delay everyone else's photo.

A person sending faster than everyday use (half their burst gone) still gets their scans
through, at `busy_scan_priority`: `scan.image_upload` is a priority queue, so the others' scans,
at `scan_priority`, are taken first.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from bunri.errors import RateLimited
from bunri.logging import get_logger
from bunri.ratelimit import TokenBucket
from scan_api import repository
from scan_api.errors import TooManyScansInFlight
from scan_api.settings import ScanApiSettings

log = get_logger(__name__)

# A person at the cap waits for scans to finish, which takes seconds.
IN_FLIGHT_RETRY_SECONDS = 5


class ScanLimits:
    def __init__(self, redis: Redis, settings: ScanApiSettings) -> None:
        self._settings = settings
        self._bucket = TokenBucket(
            redis,
            "scans",
            capacity=settings.scan_burst,
            per_second=settings.scans_per_minute / 60,
        )

    async def admit(self, connection: AsyncConnection, user_id: uuid.UUID) -> int:
        """The priority of the person's next scan; RateLimited or TooManyScansInFlight (429)
        when it must wait."""
        try:
            take = await self._bucket.take(str(user_id))
        except RedisError as exc:
            # Redis away: the scan is still accepted (the in-flight cap holds), at the usual rate.
            log.warning("scan rate limit unavailable", error=repr(exc))
            take = None
        if take is not None and not take.allowed:
            raise RateLimited(
                take.retry_after_seconds,
                f"You are sending photos faster than {self._settings.scans_per_minute:g} a "
                "minute; wait a moment and send again.",
            )
        in_flight = await repository.count_in_flight(connection, user_id)
        if in_flight >= self._settings.scans_in_flight_per_user:
            raise TooManyScansInFlight(IN_FLIGHT_RETRY_SECONDS)
        if take is not None and take.busy:
            return self._settings.busy_scan_priority
        return self._settings.scan_priority
