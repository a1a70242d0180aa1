"""Days and weeks as people here live them: Asia/Seoul, weeks from Monday."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")


def local_day(moment: datetime) -> date:
    return moment.astimezone(SEOUL).date()


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def period_start(period: str, moment: datetime) -> date:
    day = local_day(moment)
    return day if period == "daily" else week_start(day)


def period_end(period: str, start: date) -> datetime:
    """The instant (UTC) the period that starts on `start` ends."""
    days = 1 if period == "daily" else 7
    return datetime.combine(start + timedelta(days=days), time(), SEOUL).astimezone(UTC)
