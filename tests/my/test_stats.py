"""A person's stats (`my_api.stats.read_stats`, computed by `bunri.reports.stats`) on both databases
it runs on, PostgreSQL and standalone's SQLite: each calendar period in Asia/Seoul with scans
spread over days and across the day, week and month boundaries to the millisecond, the classes,
the unsure share, the feedback, the streak (Asia/Seoul days, not UTC's), this period against the
last, and one person with thousands of scans.

The helpers here (a user, a profile, scans at given moments) serve test_weekly_reports too."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import Profile, Scan, ScanFeedback, ScanStatus, User
from bunri.guides import load_taxonomy
from bunri.reports.stats import KST, period_bounds, uuid7_floor
from my_api.stats import StatsOut, read_stats

COMPLETED, FAILED, QUEUED = ScanStatus.COMPLETED, ScanStatus.FAILED, ScanStatus.QUEUED
RECYCLABLE, FOOD = "재활용폐기물", "음식물류폐기물"
PLASTIC, PAPER, FILM, SCRAPS = "플라스틱류", "종이", "비닐류", "음식물쓰레기"
# Wednesday 12 March 2025, 15:00 in Seoul: the week began on Monday the 10th, the month on the 1st.
NOW = datetime(2025, 3, 12, 15, 0, tzinfo=KST)


def kst(day: int, hour: int = 12, minute: int = 0, month: int = 3, **more: int) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=KST) + timedelta(**more)


# --- Helpers (test_weekly_reports uses them too). ---


def uuid7_at(moment: datetime) -> uuid.UUID:
    """A UUIDv7 made at `moment`, as scan-api makes a scan's id when it accepts it."""
    floor = uuid7_floor(moment).int
    return uuid.UUID(int=floor | int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1))


def result(major: str, middle: str, *, unsure: bool = False) -> dict[str, Any]:
    return {
        "classification": {
            "major": major,
            "middle": middle,
            "minor": None,
            "confidence": 0.4 if unsure else 0.93,
            "unsure": unsure,
            "alternatives": [],
        },
        # The real guide, as the AI worker writes it: a result is then over 2 kB, which
        # PostgreSQL keeps out of line (TOAST), as in production.
        "guide": load_taxonomy().middle(major, middle).guide.as_api(),
        "model": {"backend": "local", "name": "test"},
    }


async def add_user(
    engine: AsyncEngine,
    *,
    language: str | None = None,
    weekly_report: bool = True,
    deleted: bool = False,
) -> uuid.UUID:
    """A user; with a profile when `language` is given (else none, as before a first read)."""
    user_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            insert(User).values(
                id=user_id,
                nickname="n",
                deleted_at=datetime.now(UTC) if deleted else None,
            )
        )
        if language is not None:
            await connection.execute(
                insert(Profile).values(
                    user_id=user_id, language=language, notify_weekly_report=weekly_report
                )
            )
    return user_id


Spec = (
    tuple[datetime, ScanStatus]
    | tuple[datetime, ScanStatus, str, str]
    | tuple[datetime, ScanStatus, str, str, bool]
)


async def add_scans(
    engine: AsyncEngine, user_id: uuid.UUID, specs: Iterable[Spec]
) -> list[uuid.UUID]:
    """Scans of `user_id`: (moment, status[, major, middle[, unsure]]) each; their ids."""
    rows: list[dict[str, Any]] = []
    for spec in specs:
        moment, status = spec[0], spec[1]
        doc = None
        if status is COMPLETED:
            major, middle = (spec[2], spec[3]) if len(spec) >= 4 else (RECYCLABLE, PAPER)
            doc = result(major, middle, unsure=bool(spec[4]) if len(spec) == 5 else False)
        rows.append(
            {
                "id": uuid7_at(moment),
                "user_id": user_id,
                "status": status,
                "progress": 100 if status is COMPLETED else 0,
                "version": 1,
                "media_type": "image/jpeg",
                "size_bytes": 1,
                "width": 1,
                "height": 1,
                "result": doc,
                "created_at": moment.astimezone(UTC),
                "updated_at": moment.astimezone(UTC),
            }
        )
    async with engine.begin() as connection:
        for start in range(0, len(rows), 2000):
            await connection.execute(insert(Scan), rows[start : start + 2000])
    return [row["id"] for row in rows]


async def add_feedback(
    engine: AsyncEngine, user_id: uuid.UUID, scan_id: uuid.UUID, given: datetime
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(ScanFeedback).values(
                scan_id=scan_id,
                user_id=user_id,
                correct_major=RECYCLABLE,
                correct_middle=PAPER,
                created_at=given.astimezone(UTC),
                updated_at=given.astimezone(UTC),
            )
        )


async def stats(engine: AsyncEngine, user_id: uuid.UUID, period: Any, now: datetime) -> StatsOut:
    async with engine.connect() as connection:
        return await read_stats(connection, user_id, period, now=now)


async def a_month_of_scans(engine: AsyncEngine) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """Scans over February and March 2025, seen on Wednesday 12 March (NOW)."""
    user = await add_user(engine, language="ko")
    ids = await add_scans(
        engine,
        user,
        [
            # February: the month before.
            (kst(20, month=2), COMPLETED, RECYCLABLE, PAPER),
            # The week before this one (3 to 9 March): three scans, two sorted.
            (kst(6, 12), COMPLETED, RECYCLABLE, PAPER),
            (kst(6, 13), FAILED),
            (kst(8, 23, 30), COMPLETED, RECYCLABLE, FILM),  # Saturday, 14:30 UTC
            # This week: Monday at midnight (Sunday 15:00 in UTC) ...
            (kst(10, 0, 0), COMPLETED, RECYCLABLE, PLASTIC),
            # ... Tuesday at half past midnight (still Monday in UTC), unsure ...
            (kst(11, 0, 30), COMPLETED, RECYCLABLE, PLASTIC, True),
            # ... and today.
            (kst(12, 8), COMPLETED, RECYCLABLE, PAPER),
            (kst(12, 9), FAILED),
            (kst(12, 11), QUEUED),
            (kst(12, 11, 30), COMPLETED, FOOD, SCRAPS),
        ],
    )
    # Feedback: in February, on 7 March (last week), and today on Tuesday's scan.
    await add_feedback(engine, user, ids[0], kst(21, month=2))
    await add_feedback(engine, user, ids[1], kst(7))
    await add_feedback(engine, user, ids[5], kst(12, 10))
    return user, ids


async def test_the_week_so_far_against_the_last(engine: AsyncEngine) -> None:
    user, _ = await a_month_of_scans(engine)

    week = await stats(engine, user, "week", NOW)

    assert week.period.kind == "week"
    assert week.period.start == datetime(2025, 3, 10, tzinfo=KST)
    assert week.period.end == datetime(2025, 3, 17, tzinfo=KST)
    assert week.period.start.utcoffset() == timedelta(hours=9)
    assert week.as_of == NOW
    counts = week.counts
    assert (counts.submitted, counts.completed, counts.failed) == (6, 4, 1)
    assert (counts.unsure, counts.unsure_share, counts.feedback) == (1, 0.25, 1)
    assert [(c.major, c.name_en, c.count) for c in week.by_major] == [
        (RECYCLABLE, "Recyclables", 3),
        (FOOD, "Food waste", 1),
    ]
    assert [(c.major, c.middle, c.name_en, c.count) for c in week.by_middle] == [
        (RECYCLABLE, PLASTIC, "Plastics", 2),
        (FOOD, SCRAPS, "Food scraps", 1),  # a tie: by name
        (RECYCLABLE, PAPER, "Paper", 1),
    ]
    # Monday, Tuesday and today (Asia/Seoul days); Saturday's scan is not Sunday's. In UTC every
    # day from the 8th to the 12th had one: five.
    assert (week.streak.days, week.streak.last_day, week.streak.scanned_today) == (
        3,
        date(2025, 3, 12),
        True,
    )
    comparison = week.comparison
    assert comparison is not None
    assert comparison.previous.start == datetime(2025, 3, 3, tzinfo=KST)
    assert comparison.previous.end == datetime(2025, 3, 10, tzinfo=KST)
    last = comparison.counts
    assert (last.submitted, last.completed, last.failed, last.unsure) == (3, 2, 1, 0)
    assert (last.unsure_share, last.feedback) == (0.0, 1)
    change = comparison.change
    assert (change.submitted, change.completed, change.failed, change.feedback) == (3, 2, 0, 0)
    assert (change.submitted_percent, change.completed_percent) == (100.0, 100.0)


async def test_the_month_and_all_time(engine: AsyncEngine) -> None:
    user, _ = await a_month_of_scans(engine)

    month = await stats(engine, user, "month", NOW)
    assert (month.period.start, month.period.end) == (
        datetime(2025, 3, 1, tzinfo=KST),
        datetime(2025, 4, 1, tzinfo=KST),
    )
    assert (month.counts.submitted, month.counts.completed, month.counts.failed) == (9, 6, 2)
    assert (month.counts.unsure, month.counts.unsure_share) == (1, 0.1667)
    assert month.counts.feedback == 2
    assert [(c.middle, c.count) for c in month.by_middle] == [
        (PAPER, 2),
        (PLASTIC, 2),
        (SCRAPS, 1),
        (FILM, 1),
    ]
    assert month.comparison is not None
    assert month.comparison.previous.start == datetime(2025, 2, 1, tzinfo=KST)
    assert (month.comparison.counts.submitted, month.comparison.counts.feedback) == (1, 1)
    assert (month.comparison.change.submitted, month.comparison.change.submitted_percent) == (
        8,
        800.0,
    )

    everything = await stats(engine, user, "all", NOW)
    assert (everything.period.start, everything.period.end) == (None, None)
    assert everything.comparison is None
    assert (everything.counts.submitted, everything.counts.completed) == (10, 7)
    assert (everything.counts.failed, everything.counts.feedback) == (2, 3)
    assert everything.streak == (await stats(engine, user, "week", NOW)).streak


async def test_periods_start_at_midnight_in_seoul_to_the_millisecond(engine: AsyncEngine) -> None:
    user = await add_user(engine)
    monday = datetime(2025, 3, 10, tzinfo=KST)
    first = datetime(2025, 3, 1, tzinfo=KST)
    ids = await add_scans(
        engine,
        user,
        [
            (monday, COMPLETED),
            (monday - timedelta(milliseconds=1), COMPLETED),
            (first, COMPLETED),
            (first - timedelta(milliseconds=1), COMPLETED),
        ],
    )
    # Feedback on Monday at 08:00 in Seoul (Sunday 23:00 UTC) and on Sunday at 23:00 (14:00 UTC).
    await add_feedback(engine, user, ids[0], monday + timedelta(hours=8))
    await add_feedback(engine, user, ids[1], monday - timedelta(hours=1))
    week = await stats(engine, user, "week", monday)
    assert week.counts.submitted == 1  # Monday 00:00:00.000, not Sunday's last millisecond
    assert week.counts.feedback == 1
    assert week.comparison is not None
    assert week.comparison.counts.submitted == 1
    assert week.comparison.counts.feedback == 1
    month = await stats(engine, user, "month", first)
    assert month.counts.submitted == 3  # from the 1st, 00:00:00.000, to the end of March
    assert month.comparison is not None
    assert month.comparison.counts.submitted == 1
    # Sunday 23:00 in Seoul is Sunday 14:00 UTC: still the week of the 3rd.
    sunday = await stats(engine, user, "week", datetime(2025, 3, 9, 14, tzinfo=UTC))
    assert sunday.period.start == datetime(2025, 3, 3, tzinfo=KST)
    # ... and Monday 08:00 in Seoul is Sunday 23:00 UTC: the week of the 10th already.
    early = await stats(engine, user, "week", datetime(2025, 3, 9, 23, tzinfo=UTC))
    assert early.period.start == monday


async def test_nothing_yet(engine: AsyncEngine) -> None:
    user = await add_user(engine)
    for period in ("week", "month", "all"):
        empty = await stats(engine, user, period, NOW)
        assert empty.counts.model_dump() == {
            "submitted": 0,
            "completed": 0,
            "failed": 0,
            "unsure": 0,
            "unsure_share": None,
            "feedback": 0,
        }
        assert (empty.by_major, empty.by_middle) == ([], [])
        assert (empty.streak.days, empty.streak.last_day, empty.streak.scanned_today) == (
            0,
            None,
            False,
        )
    week = await stats(engine, user, "week", NOW)
    assert week.comparison is not None
    assert (week.comparison.change.submitted, week.comparison.change.submitted_percent) == (0, None)


async def test_no_completed_scan_has_no_unsure_share(engine: AsyncEngine) -> None:
    user = await add_user(engine)
    await add_scans(engine, user, [(kst(11), FAILED), (kst(12), QUEUED)])
    week = await stats(engine, user, "week", NOW)
    assert (week.counts.submitted, week.counts.completed, week.counts.failed) == (2, 0, 1)
    assert week.counts.unsure_share is None


async def test_the_streak(engine: AsyncEngine) -> None:
    today = NOW.date()
    # Every day for 80 days up to yesterday, none yet today: longer than the first window read.
    long = await add_user(engine)
    await add_scans(
        engine, long, [(kst(12, 20) - timedelta(days=d), COMPLETED) for d in range(1, 81)]
    )
    streak = (await stats(engine, long, "week", NOW)).streak
    assert (streak.days, streak.last_day, streak.scanned_today) == (
        80,
        today - timedelta(days=1),
        False,
    )
    # A scan late tonight (23:59 in Seoul, 14:59 UTC) is today's: the streak takes it in.
    await add_scans(engine, long, [(kst(12, 23, 59), FAILED)])
    late = (await stats(engine, long, "week", kst(12, 23, 59, seconds=30))).streak
    assert (late.days, late.last_day, late.scanned_today) == (81, today, True)

    # The last scan the day before yesterday: the streak is over.
    lapsed = await add_user(engine)
    await add_scans(engine, lapsed, [(kst(10), COMPLETED), (kst(9), COMPLETED)])
    assert (await stats(engine, lapsed, "week", NOW)).streak.days == 0

    # Several scans a day count once; a day missed ends it.
    gappy = await add_user(engine)
    await add_scans(
        engine,
        gappy,
        [(kst(12, 9), QUEUED), (kst(12, 10), FAILED), (kst(11), COMPLETED), (kst(9), COMPLETED)],
    )
    assert (await stats(engine, gappy, "week", NOW)).streak.days == 2


async def test_thousands_of_scans_answer_quickly(clean_database: AsyncEngine) -> None:
    """One person with 6,000 scans over a year (each result with its guide, TOASTed) among
    others' 6,000: the week and the month read the person's part of the index; all of it reads
    the person's rows (tens of milliseconds; see the report)."""
    engine = clean_database
    heavy = await add_user(engine)
    start = kst(12, 14) - timedelta(days=365)
    middles = [(RECYCLABLE, PLASTIC), (RECYCLABLE, PAPER), (RECYCLABLE, FILM), (FOOD, SCRAPS)]
    specs: list[Spec] = [
        (start + timedelta(minutes=87 * i), COMPLETED, *middles[i % 4], i % 10 == 0)
        for i in range(6000)
    ]
    await add_scans(engine, heavy, specs)
    for _ in range(3):
        other = await add_user(engine)
        await add_scans(
            engine, other, [(start + timedelta(minutes=263 * i), FAILED) for i in range(2000)]
        )
    async with engine.begin() as connection:
        await connection.exec_driver_sql("ANALYZE scans")

    for period in ("week", "month", "all"):
        await stats(engine, heavy, period, NOW)  # warm
        began = time.perf_counter()
        answer = await stats(engine, heavy, period, NOW)
        took = time.perf_counter() - began
        assert took < 0.5, f"{period}: {took * 1000:.0f} ms"
        if period == "all":
            assert answer.counts.completed == 6000
            assert answer.counts.unsure_share == 0.1
            assert [c.count for c in answer.by_middle] == [1500] * 4
    bounds = period_bounds("week", NOW)
    assert bounds.start is not None
    assert (await stats(engine, heavy, "week", NOW)).counts.submitted == sum(
        1 for spec in specs if bounds.start <= spec[0] <= NOW
    )
