"""A person's stats over a calendar period (Asia/Seoul): `GET /api/v1/my/stats?period=`.

The figures are computed by `bunri.reports.stats`, which the weekly reports' generation (run by
the ops image's `bunri my weekly-reports`, where my-api is not installed) shares; the response
models live there too, as one contract for both, like `bunri.scans.result`. They are
re-exported here for the routes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bunri.reports.stats import (
    Change,
    Comparison,
    Counts,
    MajorCount,
    MiddleCount,
    Period,
    PeriodOut,
    PeriodRange,
    StatsOut,
    Streak,
    compute_stats,
)

__all__ = [
    "Change",
    "Comparison",
    "Counts",
    "MajorCount",
    "MiddleCount",
    "Period",
    "PeriodOut",
    "PeriodRange",
    "StatsOut",
    "Streak",
    "read_stats",
]


async def read_stats(
    connection: AsyncConnection, user_id: uuid.UUID, period: Period, *, now: datetime
) -> StatsOut:
    """The person's stats for the week, month (calendar, Asia/Seoul) or all time, as of `now`
    (aware): three statements, whatever the number of scans."""
    return (await compute_stats(connection, [user_id], period, now=now))[user_id]
