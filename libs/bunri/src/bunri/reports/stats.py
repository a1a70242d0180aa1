"""A person's stats over a calendar period in Asia/Seoul: what they scanned, what it was, how sure
the model was, the feedback they gave, their streak, and the period against the one before.

Computed in SQL, for many people at once (the weekly reports' generation asks for a chunk of
them; my-api for one), in three statements whatever the period:

- the scans, grouped by (person, this period or the last, status, major, middle): a range of the
  (user_id, id) index, since scan ids are UUIDv7 and so ordered by the moment they were accepted:
  a period's scans are those whose id lies between the smallest UUIDv7 of its first millisecond
  and that of the next period's. A scan's moment is its id's (which scan-api makes with its
  `created_at`).
- the feedback given (first given: `created_at`) in either period; through the `updated_at` index
  (a feedback row is never updated before it is created) when the period has a start.
- the distinct Asia/Seoul days with a scan over the last weeks, for the streak; further back only
  for a streak that reaches the window's first day.

The JSON paths into `scans.result` are SQLAlchemy's portable ones: `->` and `->>` on PostgreSQL
(JSONB), `JSON_EXTRACT` on SQLite (standalone mode).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Date, and_, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from bunri.db.models import Scan, ScanFeedback, ScanStatus
from bunri.guides import load_taxonomy

Period = Literal["week", "month", "all"]

# Korea keeps no daylight saving time (not since 1988): a fixed offset is Asia/Seoul, and needs no
# time zone database (the slim images may have none).
KST = timezone(timedelta(hours=9), "Asia/Seoul")
_KST_NAME = "Asia/Seoul"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The first window of days read for a streak; doubled while a streak fills it.
STREAK_WINDOW_DAYS = 35


# --- The response models: what my-api answers, and what a weekly report keeps as its figures. ---


class PeriodRange(BaseModel):
    start: datetime = Field(description="The first moment of the period (Asia/Seoul, +09:00).")
    end: datetime = Field(description="The first moment after it: the next period's start.")


class PeriodOut(BaseModel):
    kind: Period
    start: datetime | None = Field(
        description="Monday 00:00 (week) or the 1st 00:00 (month), Asia/Seoul; null for all."
    )
    end: datetime | None = Field(
        description="The next period's start (exclusive); null for all. A period still under "
        "way counts up to now."
    )


class Counts(BaseModel):
    submitted: int = Field(description="Scans sent in the period, whatever became of them.")
    completed: int = Field(description="Of those, scans that were classified.")
    failed: int = Field(description="Of those, scans that failed.")
    unsure: int = Field(description="Completed scans the model was unsure about.")
    unsure_share: float | None = Field(
        description="unsure / completed (0 to 1, 4 decimals); null with no completed scan."
    )
    feedback: int = Field(description="Corrections given in the period (first given then).")


class MajorCount(BaseModel):
    major: str = Field(description="대분류, as in a scan's result")
    name_en: str | None = Field(description="Its English name (null for a class no longer known).")
    count: int


class MiddleCount(BaseModel):
    major: str
    middle: str = Field(description="중분류, the class a disposal guide belongs to")
    name_en: str | None
    count: int


class Streak(BaseModel):
    days: int = Field(
        description="Consecutive Asia/Seoul days with at least one scan, ending today, or "
        "yesterday when there is none yet today; 0 when neither."
    )
    last_day: date | None = Field(description="The streak's last day; null when it is 0.")
    scanned_today: bool


class Change(BaseModel):
    """This period's counts minus the last's."""

    submitted: int
    completed: int
    failed: int
    feedback: int
    submitted_percent: float | None = Field(
        description="The change in scans sent, in percent of the last period's (1 decimal); "
        "null when the last period had none."
    )
    completed_percent: float | None


class Comparison(BaseModel):
    previous: PeriodRange
    counts: Counts = Field(description="The previous period's counts, the whole of it.")
    change: Change


class StatsOut(BaseModel):
    period: PeriodOut
    as_of: datetime = Field(description="The moment the figures were taken (Asia/Seoul).")
    counts: Counts
    by_major: list[MajorCount] = Field(
        description="Completed scans by major class, most first (then by name)."
    )
    by_middle: list[MiddleCount] = Field(
        description="Completed scans by middle class, most first (then by name)."
    )
    streak: Streak
    comparison: Comparison | None = Field(
        description="This period against the previous week or month; null for all."
    )


# --- Periods. ---


@dataclass(frozen=True, slots=True)
class Bounds:
    kind: Period
    start: datetime | None
    end: datetime | None
    previous_start: datetime | None


def kst_today(now: datetime) -> date:
    return now.astimezone(KST).date()


def kst_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), KST)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def period_bounds(period: Period, now: datetime) -> Bounds:
    """The calendar period holding `now` in Asia/Seoul, and the start of the one before."""
    if now.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    today = kst_today(now)
    if period == "week":
        start = kst_midnight(monday_of(today))
        return Bounds(period, start, start + timedelta(days=7), start - timedelta(days=7))
    if period == "month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return Bounds(period, kst_midnight(first), kst_midnight(following), kst_midnight(previous))
    if period == "all":
        return Bounds(period, None, None, None)
    raise ValueError(f"unknown period {period!r}: week, month or all")


def uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 made in `moment`'s millisecond: every id made then or later is at
    least this, every id made before is less (as PostgreSQL's uuid and SQLite's hex text order
    them)."""
    unix_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    return uuid.UUID(int=(unix_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | 0b10 << 62)


# --- The statements. ---


def _kst_day(connection: AsyncConnection, column: Any) -> ColumnElement[Any]:
    if connection.dialect.name == "postgresql":
        return cast(func.timezone(_KST_NAME, column), Date)
    # SQLite keeps UTC timestamps as text: date() shifts and cuts it, answering 'YYYY-MM-DD'.
    return func.date(column, "+9 hours")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


@dataclass(slots=True)
class _Tally:
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    unsure: int = 0
    feedback: int = 0
    majors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    middles: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, status: Any, major: str | None, middle: str | None, n: int, unsure: int) -> None:
        self.submitted += n
        if status == ScanStatus.COMPLETED:
            self.completed += n
            self.unsure += unsure
            if major is not None:
                self.majors[major] += n
                if middle is not None:
                    self.middles[(major, middle)] += n
        elif status == ScanStatus.FAILED:
            self.failed += n

    def counts(self) -> Counts:
        share = round(self.unsure / self.completed, 4) if self.completed else None
        return Counts(
            submitted=self.submitted,
            completed=self.completed,
            failed=self.failed,
            unsure=self.unsure,
            unsure_share=share,
            feedback=self.feedback,
        )


def _scan_range(lower: datetime | None, upper: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if lower is not None:
        conditions.append(Scan.id >= uuid7_floor(lower))
    if upper is not None:
        conditions.append(Scan.id < uuid7_floor(upper))
    return conditions


async def _scan_tallies(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID], bounds: Bounds
) -> tuple[dict[uuid.UUID, _Tally], dict[uuid.UUID, _Tally]]:
    """(this period's tallies, the previous period's), by person."""
    lower = bounds.previous_start if bounds.previous_start is not None else bounds.start
    compared = bounds.start is not None and bounds.previous_start is not None
    current: ColumnElement[bool] = (
        Scan.id >= uuid7_floor(bounds.start) if compared and bounds.start else true()
    )
    # The classification taken out of the result once per scan, in a materialised CTE: a
    # result with its guide is TOASTed, and each path into it would read it whole again
    # (three paths: twice the time, for a person with thousands of scans).
    scanned = (
        select(
            Scan.user_id,
            Scan.status,
            current.label("current"),
            Scan.result["classification"].label("classification"),
        )
        .where(Scan.user_id.in_(user_ids), *_scan_range(lower, bounds.end))
        .cte("scanned")
        .prefix_with("MATERIALIZED")
    )
    classification = scanned.c.classification
    major = classification["major"].as_string().label("major")
    middle = classification["middle"].as_string().label("middle")
    unsure = classification["unsure"].as_boolean()
    groups: list[Any] = [scanned.c.user_id, scanned.c.status, major, middle]
    if compared:
        groups.append(scanned.c.current)
    statement = select(
        *groups,
        func.count().label("n"),
        func.count().filter(unsure.is_(True)).label("unsure"),
    ).group_by(*groups)
    this: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    last: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    for row in await connection.execute(statement):
        tally = this[row.user_id] if not compared or row.current else last[row.user_id]
        tally.add(row.status, row.major, row.middle, row.n, row.unsure)
    return this, last


async def _feedback_counts(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID], bounds: Bounds
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, int]]:
    """Feedback first given in this period and in the previous one, by person."""
    lower = bounds.previous_start if bounds.previous_start is not None else bounds.start
    if lower is None:
        # All of it: through the person's scans (the (user_id, id) index), each scan's feedback
        # found by its key; scan_feedback has no index on user_id.
        every = (
            select(Scan.user_id, func.count().label("n"))
            .join(ScanFeedback, ScanFeedback.scan_id == Scan.id)
            .where(Scan.user_id.in_(user_ids))
            .group_by(Scan.user_id)
        )
        return {row.user_id: row.n for row in await connection.execute(every)}, {}
    assert bounds.start is not None
    # In UTC: SQLite keeps timestamps as UTC text and compares a bound's wall-clock time.
    start, since = bounds.start.astimezone(UTC), lower.astimezone(UTC)
    upper = [] if bounds.end is None else [ScanFeedback.created_at < bounds.end.astimezone(UTC)]
    statement = (
        select(
            ScanFeedback.user_id,
            func.count().filter(ScanFeedback.created_at >= start).label("n"),
            func.count().filter(ScanFeedback.created_at < start).label("before"),
        )
        .where(
            ScanFeedback.user_id.in_(user_ids),
            # Implied by the next line (a row's updated_at is never before its created_at): it
            # lets the planner read the recent rows from the updated_at index.
            ScanFeedback.updated_at >= since,
            ScanFeedback.created_at >= since,
            *upper,
        )
        .group_by(ScanFeedback.user_id)
    )
    this: dict[uuid.UUID, int] = {}
    last: dict[uuid.UUID, int] = {}
    for row in await connection.execute(statement):
        this[row.user_id], last[row.user_id] = row.n, row.before
    return this, last


def _streak_of(days: set[date], today: date) -> Streak:
    yesterday = today - timedelta(days=1)
    last_day = today if today in days else yesterday if yesterday in days else None
    count = 0
    day = last_day
    while day is not None and day in days:
        count += 1
        day -= timedelta(days=1)
    return Streak(days=count, last_day=last_day, scanned_today=today in days)


async def _streaks(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Streak]:
    today = kst_today(now)
    tomorrow = kst_midnight(today + timedelta(days=1))
    streaks: dict[uuid.UUID, Streak] = {}
    pending = list(user_ids)
    window = STREAK_WINDOW_DAYS
    while pending:
        first = today - timedelta(days=window - 1)
        day = _kst_day(connection, Scan.created_at)
        statement = (
            select(Scan.user_id, day.label("day"))
            .where(Scan.user_id.in_(pending), *_scan_range(kst_midnight(first), tomorrow))
            .group_by(Scan.user_id, day)
        )
        days: dict[uuid.UUID, set[date]] = defaultdict(set)
        for row in await connection.execute(statement):
            days[row.user_id].add(_as_date(row.day))
        longer = []
        for user_id in pending:
            streak = _streak_of(days[user_id], today)
            streaks[user_id] = streak
            # The streak fills the window: it may go on before it.
            if streak.last_day is not None and streak.last_day - first == timedelta(
                days=streak.days - 1
            ):
                longer.append(user_id)
        pending = longer
        window *= 2
    return streaks


@cache
def _english_names() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    taxonomy = load_taxonomy()
    majors = {major.name: major.name_en for major in taxonomy.majors}
    middles = {
        (major.name, middle.name): middle.name_en
        for major in taxonomy.majors
        for middle in major.middles
    }
    return majors, middles


def _ranked(counted: Iterable[tuple[Any, int]]) -> list[tuple[Any, int]]:
    return sorted(counted, key=lambda item: (-item[1], item[0]))


def _percent(now: int, before: int) -> float | None:
    return round((now - before) * 100 / before, 1) if before else None


async def compute_stats(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID], period: Period, *, now: datetime
) -> dict[uuid.UUID, StatsOut]:
    """Each person's stats for the `period` holding `now` (an entry for every id asked about,
    zeros for someone with no scan)."""
    bounds = period_bounds(period, now)
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return {}
    this, last = await _scan_tallies(connection, ids, bounds)
    feedback, feedback_before = await _feedback_counts(connection, ids, bounds)
    streaks = await _streaks(connection, ids, now)
    major_names, middle_names = _english_names()
    answer: dict[uuid.UUID, StatsOut] = {}
    for user_id in ids:
        tally = this.get(user_id) or _Tally()
        tally.feedback = feedback.get(user_id, 0)
        counts = tally.counts()
        comparison = None
        if bounds.start is not None and bounds.previous_start is not None:
            before = last.get(user_id) or _Tally()
            before.feedback = feedback_before.get(user_id, 0)
            previous = before.counts()
            comparison = Comparison(
                previous=PeriodRange(start=bounds.previous_start, end=bounds.start),
                counts=previous,
                change=Change(
                    submitted=counts.submitted - previous.submitted,
                    completed=counts.completed - previous.completed,
                    failed=counts.failed - previous.failed,
                    feedback=counts.feedback - previous.feedback,
                    submitted_percent=_percent(counts.submitted, previous.submitted),
                    completed_percent=_percent(counts.completed, previous.completed),
                ),
            )
        answer[user_id] = StatsOut(
            period=PeriodOut(kind=period, start=bounds.start, end=bounds.end),
            as_of=now.astimezone(KST),
            counts=counts,
            by_major=[
                MajorCount(major=name, name_en=major_names.get(name), count=n)
                for name, n in _ranked(tally.majors.items())
            ],
            by_middle=[
                MiddleCount(major=key[0], middle=key[1], name_en=middle_names.get(key), count=n)
                for key, n in _ranked(tally.middles.items())
            ],
            streak=streaks[user_id],
            comparison=comparison,
        )
    return answer


def scan_moment_bounds(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Scans accepted in [start, end), as a condition on their (UUIDv7) ids."""
    return and_(*_scan_range(start, end))
