"""Weekly reports, all real (PostgreSQL, RabbitMQ; SQLite too for the generation's statements):
the template's text in Korean and English, reading a week's report (404 `report_not_ready` when
there is none), the generation (who is active, chunks, idempotency), the model path (a chat batch
job published on `chat.batch`, or kept in the outbox, or refused by a full queue; the model's text
once the job is answered), and `bunri my weekly-reports`.

The functions are called directly; the HTTP routes are my-api's (tested with them)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import aio_pika
import msgpack
import pytest
import typer
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bunri.db.base import utcnow
from bunri.db.models import BatchKind, BatchStatus, ChatBatchJob, OutboxMessage, WeeklyReport
from bunri.guides import load_taxonomy
from bunri.messaging.errors import BrokerUnavailable, QueueFull
from bunri.messaging.protocol import TaskMessage
from bunri.messaging.publisher import TaskPublisher
from bunri.messaging.topology import LOW_PRIORITY
from bunri.reports.stats import KST
from bunri.reports.weekly import (
    GenerationSummary,
    last_complete_week,
    model_question,
    week_figures,
)
from bunri_programs import weekly_reports as command
from my_api.errors import ReportNotReady
from my_api.reports import WeeklyReportOut, generate_weekly_reports, weekly_report
from tests.my.test_stats import (
    COMPLETED,
    FAILED,
    FILM,
    FOOD,
    PAPER,
    PLASTIC,
    QUEUED,
    RECYCLABLE,
    SCRAPS,
    add_feedback,
    add_scans,
    add_user,
)
from tests.support.backends import fresh_vhost

# The week of Monday 10 March 2025 (Asia/Seoul); written on the Tuesday after, read on Wednesday.
WEEK = date(2025, 3, 10)
WRITTEN = datetime(2025, 3, 18, 3, 0, tzinfo=KST)
READ = datetime(2025, 3, 19, 9, 0, tzinfo=KST)
CHAT_BATCH = "chat.batch"


def day(offset: int, hour: int = 12, minute: int = 0) -> datetime:
    """A moment of the week: Monday is 0, Sunday 6 (-1 is the Sunday before)."""
    return datetime.combine(WEEK, datetime.min.time(), KST) + timedelta(
        days=offset, hours=hour, minutes=minute
    )


async def a_full_week(engine: AsyncEngine, user: uuid.UUID) -> None:
    """A scan every day of the week (a 7-day streak on Sunday), the week before lighter."""
    ids = await add_scans(
        engine,
        user,
        [
            # The week before: 3 sent, 2 sorted.
            (day(-4), COMPLETED, RECYCLABLE, PAPER),
            (day(-4, 13), FAILED),
            (day(-2, 23, 30), COMPLETED, RECYCLABLE, FILM),
            # This week: 8 sent, 6 sorted (2 unsure), 1 failed, 1 never finished.
            (day(0, 0), COMPLETED, RECYCLABLE, PLASTIC),
            (day(1, 0, 30), COMPLETED, RECYCLABLE, PLASTIC, True),
            (day(2, 8), COMPLETED, RECYCLABLE, PLASTIC),
            (day(3), COMPLETED, FOOD, SCRAPS, True),
            (day(4), FAILED),
            (day(5), QUEUED),
            (day(6, 9), COMPLETED, RECYCLABLE, PAPER),
            (day(6, 23, 59), COMPLETED, RECYCLABLE, PLASTIC),
            # The next week: not this one's.
            (day(7, 0, 0), COMPLETED, FOOD, SCRAPS),
        ],
    )
    await add_feedback(engine, user, ids[4], day(2, 20))


async def reports(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list(
            await connection.execute(
                select(WeeklyReport).order_by(WeeklyReport.user_id, WeeklyReport.week_start)
            )
        )


async def read(engine: AsyncEngine, user: uuid.UUID, week: date | None = None) -> WeeklyReportOut:
    async with engine.connect() as connection:
        return await weekly_report(connection, user, week, now=READ)


async def generate(engine: AsyncEngine, publisher: Any = None, **options: Any) -> GenerationSummary:
    chosen: dict[str, Any] = {"use_model": False, "now": WRITTEN, **options}
    return await generate_weekly_reports(engine, publisher, WEEK, **chosen)


async def count(engine: AsyncEngine, model: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


# --- The broker: a vhost of this module's own, and what `chat.batch` holds. ---


@pytest.fixture(scope="module")
def vhost_url() -> Iterator[str]:
    with fresh_vhost("weekly_reports") as url:
        yield url


@pytest.fixture
async def publisher(vhost_url: str) -> AsyncIterator[TaskPublisher]:
    publisher = TaskPublisher(vhost_url)
    await publisher.start()
    assert publisher.connected
    yield publisher
    await publisher.close()
    await take_messages(vhost_url)  # the next test starts with an empty queue


async def take_messages(
    url: str, queue: str = CHAT_BATCH
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Every message waiting on `queue`, taken off it."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.get_queue(queue, ensure=False)
        messages = []
        while (message := await declared.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


# --- The template. ---


def tip_of(middle: str) -> tuple[list[str], list[str]]:
    guide = load_taxonomy().middle(RECYCLABLE, middle).guide
    return [c.ko for c in guide.cautions], [c.en for c in guide.cautions]


async def test_the_template_speaks_the_persons_language(engine: AsyncEngine) -> None:
    korean = await add_user(engine, language="ko")
    english = await add_user(engine, language="en")
    for user in (korean, english):
        await a_full_week(engine, user)

    summary = await generate(engine)
    assert (summary.users_seen, summary.reports_written, summary.model_jobs_queued) == (2, 2, 0)

    ko = await read(engine, korean)
    assert (ko.week_start, ko.week_end) == (WEEK, date(2025, 3, 16))
    assert (ko.source, ko.model_status) == ("template", "none")
    lines = ko.text.split("\n")
    assert lines[:-1] == [
        "이번 주(3월 10일~16일) 분리배출 리포트예요.",
        "스캔을 8번 했고, 그중 6번 분류를 마쳤어요. 지난주보다 5번 더 했어요!",
        "가장 많이 나온 건 플라스틱류(4번)와 음식물쓰레기(1번)였어요.",
        "확신하기 어려웠던 결과는 33%였어요. 물건 하나만 밝은 곳에서 가까이 찍으면 더 정확해져요.",
        "피드백 1건도 고마워요. 덕분에 분리가 더 똑똑해져요.",
        "7일 연속 기록 중이에요. 멋져요!",
    ]
    cautions_ko, cautions_en = tip_of(PLASTIC)
    assert lines[-1].removeprefix("이번 주 팁(플라스틱류): ") in cautions_ko

    en = await read(engine, english)
    lines = en.text.split("\n")
    assert lines[:-1] == [
        "Your sorting week (Mar 10-16).",
        "You sent 8 scans and 6 were sorted. That's 5 more than last week!",
        "Most of them were plastics (4) and food scraps (1).",
        "33% of the answers were unsure. One item at a time, close up and in good light, "
        "makes them surer.",
        "Thank you for 1 correction: they make Bunri smarter.",
        "You're on a 7-day streak. Keep it going!",
    ]
    assert lines[-1].removeprefix("Tip of the week (plastics): ") in cautions_en
    # The same tip in both languages.
    tip_ko = ko.text.split("\n")[-1].removeprefix("이번 주 팁(플라스틱류): ")
    tip_en = lines[-1].removeprefix("Tip of the week (plastics): ")
    assert cautions_ko.index(tip_ko) == cautions_en.index(tip_en)

    # The figures the text was written from, as of the week's last moment.
    figures = ko.figures
    assert figures.period.kind == "week"
    assert figures.period.start == datetime(2025, 3, 10, tzinfo=KST)
    assert figures.as_of == datetime(2025, 3, 17, tzinfo=KST) - timedelta(microseconds=1)
    counts = figures.counts
    assert (counts.submitted, counts.completed, counts.failed, counts.unsure) == (8, 6, 1, 2)
    assert (counts.unsure_share, counts.feedback) == (0.3333, 1)
    assert [(c.middle, c.count) for c in figures.by_middle] == [
        (PLASTIC, 4),
        (SCRAPS, 1),
        (PAPER, 1),
    ]
    assert (figures.streak.days, figures.streak.last_day) == (7, date(2025, 3, 16))
    assert figures.comparison is not None
    assert figures.comparison.counts.submitted == 3
    assert en.figures == figures


async def test_a_quiet_week_reads_kindly(clean_database: AsyncEngine) -> None:
    engine = clean_database
    korean = await add_user(engine)  # no profile yet: Korean, as the profile's default
    english = await add_user(engine, language="en")
    for user in (korean, english):
        await add_scans(
            engine, user, [(day(-3), COMPLETED), (day(-2), COMPLETED), (day(2), FAILED)]
        )
    await generate(engine)

    assert (await read(engine, korean)).text == (
        "이번 주(3월 10일~16일) 분리배출 리포트예요.\n"
        "스캔을 1번 했어요. 지난주(2번)보다는 적었지만, 꾸준함이 제일 중요해요.\n"
        "아쉽게도 분류를 마친 스캔이 없었어요. 다음에 다시 찍어 볼까요?"
    )
    assert (await read(engine, english)).text == (
        "Your sorting week (Mar 10-16).\n"
        "You sent 1 scan. A little fewer than last week (2), but steady wins the race.\n"
        "Nothing could be sorted this time; shall we try another photo?"
    )


# --- Reading a report. ---


async def test_which_week_is_read_and_report_not_ready(clean_database: AsyncEngine) -> None:
    engine = clean_database
    user = await add_user(engine, language="ko")
    other = await add_user(engine)
    await add_scans(engine, user, [(day(1), COMPLETED)])
    await add_scans(engine, other, [(day(1), COMPLETED), (day(8), COMPLETED)])
    await generate(engine)

    # By default the last complete week: on Wednesday the 19th, the week of the 10th.
    assert (await read(engine, user)).week_start == WEEK
    # Any day of a week names it.
    assert (await read(engine, user, date(2025, 3, 16))).week_start == WEEK
    assert (await read(engine, user, WEEK)).text == (await read(engine, user)).text

    # The week before (no scan, no report) and this week (not over): not ready.
    for week in (date(2025, 3, 3), date(2025, 3, 17)):
        with pytest.raises(ReportNotReady) as caught:
            await read(engine, user, week)
        assert (caught.value.status_code, caught.value.code) == (404, "report_not_ready")
        assert caught.value.message
    # Someone else's report is not this person's.
    newcomer = await add_user(engine)
    with pytest.raises(ReportNotReady):
        await read(engine, newcomer)
    # On the Monday the reports are written, the default is the week just over.
    async with engine.connect() as connection:
        with pytest.raises(ReportNotReady):
            await weekly_report(connection, user, None, now=datetime(2025, 3, 24, 1, tzinfo=KST))


# --- The generation. ---


async def test_who_gets_a_report_in_chunks(engine: AsyncEngine) -> None:
    scanned = [(day(2), COMPLETED, RECYCLABLE, PAPER)]
    active = [
        await add_user(engine),  # no profile: the weekly report is on by default
        await add_user(engine, language="ko"),
        await add_user(engine, language="en"),
        await add_user(engine, language="ko", weekly_report=True),
        await add_user(engine, language="en"),
    ]
    for user in active:
        await add_scans(engine, user, scanned)
    quiet = await add_user(engine, language="ko")  # scanned the week before and after only
    await add_scans(engine, quiet, [(day(-1, 23, 59), COMPLETED), (day(7, 0), COMPLETED)])
    leaving = await add_user(engine, language="ko", deleted=True)
    opted_out = await add_user(engine, language="ko", weekly_report=False)
    for user in (leaving, opted_out):
        await add_scans(engine, user, scanned)
    await add_user(engine)  # never scanned

    summary = await generate(engine, chunk_users=2)

    assert summary == GenerationSummary(week_start=WEEK, users_seen=5, reports_written=5, chunks=3)
    rows = await reports(engine)
    assert sorted(row.user_id for row in rows) == sorted(active)
    assert {row.week_start for row in rows} == {WEEK}
    english = {row.user_id for row in rows if row.text.startswith("Your sorting week")}
    assert english == {active[2], active[4]}
    assert all(row.source == "template" and row.chat_job_id is None for row in rows)

    # Exactly two chunks' worth: the last chunk is full, and one more look finds nobody.
    again = await generate(engine, chunk_users=5)
    assert again == GenerationSummary(week_start=WEEK, users_seen=5, already_written=5, chunks=1)


async def test_generation_is_idempotent_and_queues_one_job(
    clean_database: AsyncEngine, publisher: TaskPublisher, vhost_url: str
) -> None:
    engine = clean_database
    user = await add_user(engine, language="en")
    await a_full_week(engine, user)

    first = await generate(engine, publisher, use_model=True)
    second = await generate(engine, publisher, use_model=True)

    assert first == GenerationSummary(
        week_start=WEEK, users_seen=1, reports_written=1, model_jobs_queued=1, chunks=1
    )
    assert second == GenerationSummary(week_start=WEEK, users_seen=1, already_written=1, chunks=1)
    assert len(await reports(engine)) == 1
    assert await count(engine, ChatBatchJob) == 1
    messages = await take_messages(vhost_url)
    assert len(messages) == 1
    assert await count(engine, OutboxMessage) == 0


async def test_the_model_writes_the_report_once_its_job_is_answered(
    clean_database: AsyncEngine, publisher: TaskPublisher, vhost_url: str
) -> None:
    engine = clean_database
    korean = await add_user(engine)
    english = await add_user(engine, language="en")
    for user in (korean, english):
        await a_full_week(engine, user)

    summary = await generate(engine, publisher, use_model=True)
    assert (summary.reports_written, summary.model_jobs_queued) == (2, 2)
    assert (summary.model_jobs_in_outbox, summary.model_jobs_refused) == (0, 0)

    rows = {row.user_id: row for row in await reports(engine)}
    async with engine.connect() as connection:
        jobs = {
            job.user_id: job
            for job in await connection.execute(select(ChatBatchJob).order_by(ChatBatchJob.id))
        }
    assert {rows[user].chat_job_id for user in rows} == {jobs[user].id for user in jobs}
    for user in (korean, english):
        assert rows[user].chat_job_id == jobs[user].id
        assert jobs[user].status is BatchStatus.QUEUED
        assert jobs[user].kind == BatchKind.WEEKLY_REPORT  # the AI worker writes it as a report
        assert jobs[user].scan_id is None
    # The question carries the figures, in the person's language.
    async with engine.connect() as connection:
        figures = await week_figures(connection, [korean, english], WEEK)
    assert jobs[korean].question == model_question(figures[korean], "ko", WEEK)
    assert jobs[english].question == model_question(figures[english], "en", WEEK)
    assert jobs[korean].question.startswith("아래 숫자로 이번 주 나의 분리배출 리포트를")
    assert "- 스캔: 8번 (분류 완료 6번, 실패 1번)" in jobs[korean].question
    assert "- 많이 나온 분류: 플라스틱류 4번, 음식물쓰레기 1번, 종이 1번" in jobs[korean].question
    assert "- 연속 기록: 7일" in jobs[korean].question
    assert "- 지난주: 스캔 3번, 분류 완료 2번" in jobs[korean].question
    assert "in English" in jobs[english].question
    assert "- Most scanned: Plastics 4, Food scraps 1, Paper 1" in jobs[english].question
    assert "- Unsure answers: 33%" in jobs[english].question

    # On the real queue, at low priority, as chat-api's queued questions are.
    messages = await take_messages(vhost_url)
    assert sorted(message.message_id or "" for message in messages) == sorted(
        f"chat.answer_batch:{job.id}" for job in jobs.values()
    )
    for message in messages:
        assert message.priority == LOW_PRIORITY
        assert message.headers["task"] == "chat.answer_batch"
        args, _, _ = msgpack.unpackb(message.body, raw=False)
        assert args in ([str(jobs[korean].id)], [str(jobs[english].id)])

    pending = await read(engine, korean)
    assert (pending.source, pending.model_status) == ("template", "pending")

    # The AI worker answers the Korean one, and fails the English one.
    answered_at = datetime(2025, 3, 18, 3, 5, tzinfo=UTC)
    async with engine.begin() as connection:
        await connection.execute(
            update(ChatBatchJob)
            .where(ChatBatchJob.id == jobs[korean].id)
            .values(
                status=BatchStatus.COMPLETED,
                answer="  이번 주에는 8번 스캔했어요. 정말 잘하고 있어요!\n",
                completed_at=answered_at,
            )
        )
        await connection.execute(
            update(ChatBatchJob)
            .where(ChatBatchJob.id == jobs[english].id)
            .values(status=BatchStatus.FAILED, error_code="upstream_refused")
        )
    model = await read(engine, korean)
    assert (model.source, model.model_status) == ("model", "completed")
    assert model.text == "이번 주에는 8번 스캔했어요. 정말 잘하고 있어요!"
    assert model.written_at == answered_at
    assert model.figures == pending.figures
    failed = await read(engine, english)
    assert (failed.source, failed.model_status) == ("template", "failed")
    assert failed.text.startswith("Your sorting week (Mar 10-16).")


class Unreachable:
    """A publisher whose broker is away."""

    connected = False

    async def publish(self, message: TaskMessage) -> None:
        raise BrokerUnavailable("not connected to the broker")


async def test_jobs_wait_in_the_outbox_while_the_broker_is_away(engine: AsyncEngine) -> None:
    users = [await add_user(engine) for _ in range(3)]
    for user in users:
        await add_scans(engine, user, [(day(3), COMPLETED)])

    # A real publisher with nothing listening where it points ...
    away = TaskPublisher("amqp://guest:guest@127.0.0.1:9//", connect_timeout=2)
    await away.start()
    try:
        summary = await generate(engine, away, use_model=True, chunk_users=2)
    finally:
        await away.close()
    assert (summary.reports_written, summary.model_jobs_queued) == (3, 3)
    assert summary.model_jobs_in_outbox == 3

    async with engine.connect() as connection:
        kept = list(await connection.execute(select(OutboxMessage)))
        job_ids = set((await connection.execute(select(ChatBatchJob.id))).scalars())
    assert sorted(row.task_id for row in kept) == sorted(
        f"chat.answer_batch:{job_id}" for job_id in job_ids
    )
    assert {(row.routing_key, row.priority) for row in kept} == {(CHAT_BATCH, LOW_PRIORITY)}
    assert {row.chat_job_id for row in await reports(engine)} == job_ids

    # ... and none at all: the same.
    late = await add_user(engine)
    await add_scans(engine, late, [(day(4), COMPLETED)])
    summary = await generate(engine, None, use_model=True)
    assert (summary.reports_written, summary.model_jobs_in_outbox) == (1, 1)
    assert await count(engine, OutboxMessage) == 4


class FillsUp:
    """A publisher whose queue takes `room` messages, then refuses."""

    connected = True

    def __init__(self, room: int) -> None:
        self.room = room
        self.published: list[TaskMessage] = []
        self.refused = 0

    async def publish(self, message: TaskMessage) -> None:
        if len(self.published) == self.room:
            self.refused += 1
            raise QueueFull()
        self.published.append(message)


async def test_a_full_queue_leaves_the_template(clean_database: AsyncEngine) -> None:
    engine = clean_database
    users = [await add_user(engine) for _ in range(5)]
    for user in users:
        await add_scans(engine, user, [(day(3), COMPLETED)])
    queue = FillsUp(room=2)

    summary = await generate(engine, queue, use_model=True, chunk_users=3)

    assert (summary.reports_written, summary.model_jobs_queued) == (5, 2)
    assert (summary.model_jobs_refused, summary.model_jobs_in_outbox) == (3, 0)
    # Refused once per chunk: the rest of the chunk is not offered.
    assert queue.refused == 2
    assert await count(engine, OutboxMessage) == 0
    async with engine.connect() as connection:
        jobs = list(await connection.execute(select(ChatBatchJob)))
    published = {message.task_id for message in queue.published}
    for job in jobs:
        if f"chat.answer_batch:{job.id}" in published:
            assert job.status is BatchStatus.QUEUED
        else:
            assert (job.status, job.error_code) == (BatchStatus.FAILED, "queue_full")
    shown = [await read(engine, user) for user in users]
    assert sorted(report.model_status for report in shown) == ["failed"] * 3 + ["pending"] * 2
    assert {report.source for report in shown} == {"template"}


async def test_weeks_that_cannot_be_written(clean_database: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="not a Monday"):
        await generate_weekly_reports(clean_database, None, date(2025, 3, 11), use_model=False)
    with pytest.raises(ValueError, match="has not ended"):
        await generate_weekly_reports(
            clean_database, None, WEEK, use_model=False, now=datetime(2025, 3, 16, 23, tzinfo=KST)
        )
    # Monday 00:00 in Seoul: over.
    summary = await generate_weekly_reports(
        clean_database, None, WEEK, use_model=False, now=datetime(2025, 3, 17, tzinfo=KST)
    )
    assert summary.users_seen == 0


# --- The command. ---


def registered() -> typer.Typer:
    """`bunri my weekly-reports`, registered as the lead registers it in cli.py."""
    app = typer.Typer()
    my = typer.Typer()
    app.add_typer(my, name="my")
    my.add_typer(command.weekly_reports_app, name="weekly-reports")

    @app.command()
    def other() -> None:
        """(a second command, as the real app has)"""

    return app


async def test_the_command(
    clean_database: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = clean_database
    for language in ("ko", "en"):
        user = await add_user(engine, language=language)
        await add_scans(engine, user, [(day(2), COMPLETED)])
    monkeypatch.setenv("BUNRI_ENVIRONMENT", "test")
    monkeypatch.setenv("BUNRI_DATABASE_URL", database_url)
    monkeypatch.setenv("BUNRI_BROKER_URL", "amqp://guest:guest@127.0.0.1:9//")
    monkeypatch.setenv("BUNRI_LOG_JSON", "false")
    monkeypatch.delenv("BUNRI_LLM_BASE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(registered(), ["my", "weekly-reports", *args])

    done = await asyncio.to_thread(run, "--week", WEEK.isoformat(), "--chunk-users", "1")
    assert done.exit_code == 0, done.output
    assert (
        "week of 2025-03-10: 2 active people, 2 reports written (0 already there), 0 model jobs "
        "queued (0 in the outbox, 0 refused: queue full), 2 chunks" in done.output
    )
    assert len(await reports(engine)) == 2

    for bad, why in (
        ("2025-03-11", "not a Monday"),
        ("10/03/2025", "YYYY-MM-DD"),
        (last_complete_week(utcnow()) + timedelta(days=7), "not ended"),
    ):
        refused = await asyncio.to_thread(run, "--week", str(bad))
        assert refused.exit_code == 2, refused.output
        assert why in refused.output
    both = await asyncio.to_thread(run, "--week", WEEK.isoformat(), "--every", "60")
    assert both.exit_code == 2, both.output
    assert "--every" in both.output


async def test_the_scheduler_loop(
    clean_database: AsyncEngine,
    database_url: str,
    vhost_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--every`: round after round for the last complete week, with the model when one is
    configured, until stopped (the command stops on SIGTERM or SIGINT)."""
    engine = clean_database
    last_week = last_complete_week(utcnow())
    user = await add_user(engine, language="en")
    noon = datetime.combine(last_week, datetime.min.time(), KST) + timedelta(days=2, hours=12)
    await add_scans(engine, user, [(noon, COMPLETED, RECYCLABLE, PLASTIC)])
    settings = command.WeeklyReportSettings(
        environment="test", database_url=database_url, broker_url=vhost_url, log_json=False
    )
    stop = asyncio.Event()
    looping = asyncio.create_task(
        command._loop(settings, every=0.1, chunk_users=100, use_model=True, stop=stop)
    )
    printed = ""
    try:
        for _ in range(100):
            printed += capsys.readouterr().out
            if printed.count("week of") >= 3 or looping.done():
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(looping, 10)
    finally:
        looping.cancel()
    printed += capsys.readouterr().out
    rounds = [line for line in printed.splitlines() if line.startswith("week of")]
    assert len(rounds) >= 3, printed
    assert rounds[0].startswith(
        f"week of {last_week.isoformat()}: 1 active people, 1 reports written (0 already there), "
        "1 model jobs queued"
    )
    assert all(", 0 reports written (1 already there), 0 model" in line for line in rounds[1:])
    report = await read(engine, user, last_week)
    assert report.model_status == "pending"
    assert len(await take_messages(vhost_url)) == 1
