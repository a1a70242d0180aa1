"""Weekly reports: a person's week of sorting (Monday to Sunday, Asia/Seoul) in a few warm,
specific sentences, written for every active person once the week is over.

Active: at least one scan that week, an account not being deleted, and a profile that has not
turned the weekly report off (no profile yet: the default, on). People are taken in chunks by
user id (keyset pagination), one transaction per chunk: the chunk's figures (the week's stats,
`bunri.reports.stats`), the template's text in the person's language, an upsert on (user_id,
week_start) that keeps a row already there. So a second run, or two at once, writes nothing twice
and queues nothing twice.

With a model (`use_model`), each new report also gets a chat batch job asking the model to write
it from the same figures, published to `chat.batch` at low priority like chat-api's queued
questions (to the outbox, in the chunk's transaction, when the broker is away). The report shows
the model's text once that job is answered, the template's until then, or for good if it fails.
When `chat.batch` is full the job is failed at once (`queue_full`) rather than kept in the outbox:
the outbox relays in order and would hold the scans' messages behind a full queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bunri.db.base import utcnow
from bunri.db.models import BatchKind, BatchStatus, ChatBatchJob, Profile, Scan, User, WeeklyReport
from bunri.db.upsert import upsert_insert
from bunri.guides import UnknownClass, load_taxonomy
from bunri.ids import uuid7
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable, QueueFull
from bunri.messaging.outbox import keep_in_outbox
from bunri.messaging.protocol import TaskCall
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import ANSWER_CHAT_BATCH
from bunri.messaging.topology import LOW_PRIORITY
from bunri.reports.stats import (
    Counts,
    StatsOut,
    compute_stats,
    kst_midnight,
    kst_today,
    monday_of,
    scan_moment_bounds,
)

log = get_logger(__name__)

DEFAULT_CHUNK_USERS = 500
# An unsure share at or above this earns the photo advice.
UNSURE_ADVICE_SHARE = 0.2
LANGUAGES = ("ko", "en")


def week_start_of(day: date) -> date:
    """The Monday of `day`'s week."""
    return monday_of(day)


def week_end(week_start: date) -> datetime:
    """The first moment after the week (the next Monday, 00:00 Asia/Seoul)."""
    return kst_midnight(week_start + timedelta(days=7))


def last_complete_week(now: datetime) -> date:
    """The Monday of the last week that has ended by `now` (in Asia/Seoul)."""
    return monday_of(kst_today(now)) - timedelta(days=7)


def week_as_of(week_start: date) -> datetime:
    """The week's last moment: its figures, the streak included, are taken as of then."""
    return week_end(week_start) - timedelta(microseconds=1)


async def week_figures(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID], week_start: date
) -> dict[uuid.UUID, StatsOut]:
    """The week's stats for each person, against the week before."""
    return await compute_stats(connection, user_ids, "week", now=week_as_of(week_start))


# --- The template. ---


def _has_final_consonant(word: str) -> bool:
    """Whether a Korean word ends in a consonant (받침), which picks its particle."""
    last = word.rstrip()[-1:]
    if "가" <= last <= "힣":
        return (ord(last) - ord("가")) % 28 != 0
    return last.isdigit() and last in "013678"


def _and(word: str) -> str:
    return "과" if _has_final_consonant(word) else "와"


def _copula_past(word: str) -> str:
    return "이었어요" if _has_final_consonant(word) else "였어요"


def _tip(figures: StatsOut, week_start: date) -> tuple[str, str, str, str] | None:
    """A caution from the guide of the week's most scanned class, a different one each week:
    (Korean class name, English class name, Korean text, English text)."""
    if not figures.by_middle:
        return None
    top = figures.by_middle[0]
    try:
        middle = load_taxonomy().middle(top.major, top.middle)
    except UnknownClass:
        return None
    advice = middle.guide.cautions or middle.guide.steps
    if not advice:
        return None
    chosen = advice[week_start.toordinal() // 7 % len(advice)]
    return middle.name, middle.name_en, chosen.ko, chosen.en


def _week_range(week_start: date, language: str) -> str:
    last = week_start + timedelta(days=6)
    if language == "en":
        first = f"{week_start:%b} {week_start.day}"
        if last.month == week_start.month:
            return f"{first}-{last.day}"
        return f"{first} - {last:%b} {last.day}"
    first = f"{week_start.month}월 {week_start.day}일"
    if last.month == week_start.month:
        return f"{first}~{last.day}일"
    return f"{first}~{last.month}월 {last.day}일"


def _percent(share: float) -> int:
    return round(share * 100)


def template_text(figures: StatsOut, language: str, week_start: date) -> str:
    """The report in the person's language ("ko" or "en"; anything else reads Korean)."""
    if language == "en":
        return _english(figures, week_start)
    return _korean(figures, week_start)


def _korean(figures: StatsOut, week_start: date) -> str:
    counts = figures.counts
    lines = [f"이번 주({_week_range(week_start, 'ko')}) 분리배출 리포트예요."]
    sentence = f"스캔을 {counts.submitted}번 했어요."
    if counts.completed:
        sentence = f"스캔을 {counts.submitted}번 했고, 그중 {counts.completed}번 분류를 마쳤어요."
    previous = figures.comparison.counts if figures.comparison else None
    if previous is not None:
        change = counts.submitted - previous.submitted
        if previous.submitted == 0:
            sentence += " 지난주보다 훨씬 부지런했어요!"
        elif change > 0:
            sentence += f" 지난주보다 {change}번 더 했어요!"
        elif change < 0:
            sentence += f" 지난주({previous.submitted}번)보다는 적었지만, 꾸준함이 제일 중요해요."
        else:
            sentence += " 지난주와 같은 횟수예요. 꾸준하네요!"
    lines.append(sentence)
    top = figures.by_middle[:2]
    if len(top) == 2:
        first, second = top
        lines.append(
            f"가장 많이 나온 건 {first.middle}({first.count}번){_and(first.middle)} "
            f"{second.middle}({second.count}번){_copula_past(second.middle)}."
        )
    elif top:
        lines.append(
            f"가장 많이 나온 건 {top[0].middle}({top[0].count}번){_copula_past(top[0].middle)}."
        )
    elif counts.completed == 0:
        lines.append("아쉽게도 분류를 마친 스캔이 없었어요. 다음에 다시 찍어 볼까요?")
    if counts.unsure_share is not None and counts.unsure:
        unsure = f"확신하기 어려웠던 결과는 {_percent(counts.unsure_share)}%였어요."
        if counts.unsure_share >= UNSURE_ADVICE_SHARE:
            unsure += " 물건 하나만 밝은 곳에서 가까이 찍으면 더 정확해져요."
        lines.append(unsure)
    elif counts.completed:
        lines.append("모든 결과가 확실했어요. 사진을 정말 잘 찍으시네요!")
    if counts.feedback:
        lines.append(f"피드백 {counts.feedback}건도 고마워요. 덕분에 분리가 더 똑똑해져요.")
    if figures.streak.days >= 2:
        lines.append(f"{figures.streak.days}일 연속 기록 중이에요. 멋져요!")
    tip = _tip(figures, week_start)
    if tip is not None:
        lines.append(f"이번 주 팁({tip[0]}): {tip[2]}")
    return "\n".join(lines)


def _times(n: int) -> str:
    return "1 scan" if n == 1 else f"{n} scans"


def _english(figures: StatsOut, week_start: date) -> str:
    counts = figures.counts
    lines = [f"Your sorting week ({_week_range(week_start, 'en')})."]
    sentence = f"You sent {_times(counts.submitted)}."
    if counts.completed:
        verb = "was" if counts.completed == 1 else "were"
        sentence = f"You sent {_times(counts.submitted)} and {counts.completed} {verb} sorted."
    previous = figures.comparison.counts if figures.comparison else None
    if previous is not None:
        change = counts.submitted - previous.submitted
        if previous.submitted == 0:
            sentence += " That's a big step up from last week!"
        elif change > 0:
            sentence += f" That's {change} more than last week!"
        elif change < 0:
            sentence += (
                f" A little fewer than last week ({previous.submitted}), but steady wins the race."
            )
        else:
            sentence += " Just as many as last week: nicely steady!"
    lines.append(sentence)
    top = figures.by_middle[:2]
    names = [f"{(item.name_en or item.middle).lower()} ({item.count})" for item in top]
    if names:
        lines.append(f"Most of them were {' and '.join(names)}.")
    elif counts.completed == 0:
        lines.append("Nothing could be sorted this time; shall we try another photo?")
    if counts.unsure_share is not None and counts.unsure:
        unsure = f"{_percent(counts.unsure_share)}% of the answers were unsure."
        if counts.unsure_share >= UNSURE_ADVICE_SHARE:
            unsure += " One item at a time, close up and in good light, makes them surer."
        lines.append(unsure)
    elif counts.completed:
        lines.append("Every answer was a sure one: great photos!")
    if counts.feedback:
        noun = "correction" if counts.feedback == 1 else "corrections"
        lines.append(f"Thank you for {counts.feedback} {noun}: they make Bunri smarter.")
    if figures.streak.days >= 2:
        lines.append(f"You're on a {figures.streak.days}-day streak. Keep it going!")
    tip = _tip(figures, week_start)
    if tip is not None:
        lines.append(f"Tip of the week ({tip[1].lower()}): {tip[3]}")
    return "\n".join(lines)


# --- What the model is asked. ---


def _figure_lines(figures: StatsOut, week_start: date, english: bool) -> list[str]:
    counts = figures.counts
    last = week_start + timedelta(days=6)
    top = figures.by_middle[:3]
    previous: Counts | None = figures.comparison.counts if figures.comparison else None
    share = None if counts.unsure_share is None else f"{_percent(counts.unsure_share)}%"
    if english:
        lines = [
            f"- Week: {week_start.isoformat()} to {last.isoformat()}",
            f"- Scans sent: {counts.submitted} (sorted {counts.completed}, failed {counts.failed})",
            "- Most scanned: "
            + (", ".join(f"{i.name_en or i.middle} {i.count}" for i in top) or "none"),
            f"- Unsure answers: {share or 'none'}",
            f"- Corrections given: {counts.feedback}",
            f"- Streak: {figures.streak.days} days in a row",
        ]
        if previous is not None:
            lines.append(
                f"- Last week: {previous.submitted} scans sent, {previous.completed} sorted"
            )
        return lines
    lines = [
        f"- 기간: {week_start.isoformat()} ~ {last.isoformat()}",
        f"- 스캔: {counts.submitted}번 (분류 완료 {counts.completed}번, 실패 {counts.failed}번)",
        "- 많이 나온 분류: " + (", ".join(f"{i.middle} {i.count}번" for i in top) or "없음"),
        f"- 확신하기 어려웠던 결과: {share or '없음'}",
        f"- 피드백: {counts.feedback}건",
        f"- 연속 기록: {figures.streak.days}일",
    ]
    if previous is not None:
        lines.append(f"- 지난주: 스캔 {previous.submitted}번, 분류 완료 {previous.completed}번")
    return lines


def model_question(figures: StatsOut, language: str, week_start: date) -> str:
    """The chat batch question that asks the model to write the report from the figures."""
    if language == "en":
        head = (
            "Please write my weekly waste-sorting report, in English, from the figures below: "
            "3 or 4 short, warm sentences that name the figures as they are (change none), "
            "then one practical tip from the disposal guide of the class I scanned most."
        )
        return "\n".join([head, *_figure_lines(figures, week_start, english=True)])
    head = (
        "아래 숫자로 이번 주 나의 분리배출 리포트를 한국어로 써 주세요. 따뜻하고 짧게 3~4문장, "
        "숫자는 그대로 쓰고, 마지막에 가장 많이 나온 분류의 분리배출 안내에서 팁을 하나 "
        "골라 주세요."
    )
    return "\n".join([head, *_figure_lines(figures, week_start, english=False)])


# --- The generation. ---


@dataclass(slots=True)
class GenerationSummary:
    week_start: date
    users_seen: int = 0  # active people walked over
    reports_written: int = 0  # of those, reports written by this run
    already_written: int = 0  # of those, reports some earlier run had written
    model_jobs_queued: int = 0  # published to chat.batch, or kept in the outbox for it
    model_jobs_in_outbox: int = 0  # of those, kept in the outbox (the broker was away)
    model_jobs_refused: int = 0  # chat.batch was full: failed, the template's text stays
    chunks: int = 0

    def describe(self) -> str:
        return (
            f"week of {self.week_start.isoformat()}: {self.users_seen} active people, "
            f"{self.reports_written} reports written ({self.already_written} already there), "
            f"{self.model_jobs_queued} model jobs queued ({self.model_jobs_in_outbox} in the "
            f"outbox, {self.model_jobs_refused} refused: queue full), {self.chunks} chunks"
        )


async def active_users(
    connection: AsyncConnection,
    week_start: date,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> Sequence[Row[uuid.UUID, str]]:
    """The next `limit` active people after `after`, by id: (id, language)."""
    scanned = exists().where(
        Scan.user_id == User.id,
        scan_moment_bounds(kst_midnight(week_start), week_end(week_start)),
    )
    statement = (
        select(User.id, Profile.language)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(
            User.deleted_at.is_(None),
            # No profile yet (NULL through the outer join): the default, on.
            Profile.notify_weekly_report.is_not(False),
            scanned,
        )
        .order_by(User.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(User.id > after)
    return (await connection.execute(statement)).all()


async def generate_weekly_reports(
    engine: AsyncEngine,
    publisher: Publisher | None,
    week_start: date,
    *,
    chunk_users: int = DEFAULT_CHUNK_USERS,
    use_model: bool,
    now: datetime | None = None,
    on_chunk: Callable[[], None] | None = None,
) -> GenerationSummary:
    """Write the week's report of every active person who has none yet (see the module's
    docstring). `week_start` is a Monday of a week that has ended by `now` (default: the
    clock); without a publisher, model jobs go to the outbox. `on_chunk` is called after each
    chunk (a scheduler's heartbeat)."""
    if week_start.weekday() != 0:
        raise ValueError(f"{week_start.isoformat()} is not a Monday")
    if chunk_users < 1:
        raise ValueError("chunk_users must be at least 1")
    now = now or utcnow()
    if week_end(week_start) > now:
        raise ValueError(f"the week of {week_start.isoformat()} has not ended yet")
    summary = GenerationSummary(week_start)
    after: uuid.UUID | None = None
    while True:
        async with engine.connect() as connection:
            people = await active_users(connection, week_start, after=after, limit=chunk_users)
            if not people:
                break
            summary.chunks += 1
            summary.users_seen += len(people)
            after = people[-1].id
            await _write_chunk(connection, publisher, week_start, people, use_model, summary)
            await connection.commit()
        log.info(
            "weekly reports chunk written",
            week_start=week_start.isoformat(),
            chunk=summary.chunks,
            people=len(people),
        )
        if on_chunk is not None:
            on_chunk()
        if len(people) < chunk_users:
            break
    return summary


async def _write_chunk(
    connection: AsyncConnection,
    publisher: Publisher | None,
    week_start: date,
    people: Sequence[Row[uuid.UUID, str]],
    use_model: bool,
    summary: GenerationSummary,
) -> None:
    languages = {row.id: row.language if row.language in LANGUAGES else "ko" for row in people}
    written = set(
        (
            await connection.execute(
                select(WeeklyReport.user_id).where(
                    WeeklyReport.week_start == week_start,
                    WeeklyReport.user_id.in_(list(languages)),
                )
            )
        ).scalars()
    )
    summary.already_written += len(written)
    todo = [user_id for user_id in languages if user_id not in written]
    if not todo:
        return
    figures = await week_figures(connection, todo, week_start)
    now = utcnow()
    rows = [
        {
            "id": uuid7(),
            "user_id": user_id,
            "week_start": week_start,
            "figures": figures[user_id].model_dump(mode="json"),
            "text": template_text(figures[user_id], languages[user_id], week_start),
            "source": "template",
            "chat_job_id": None,
            "created_at": now,
            "updated_at": now,
        }
        for user_id in todo
    ]
    inserted = (
        await connection.execute(
            upsert_insert(connection, WeeklyReport)
            .values(rows)
            # Another run got there first (between the read above and now): its row stays.
            .on_conflict_do_nothing(index_elements=["user_id", "week_start"])
            .returning(WeeklyReport.id, WeeklyReport.user_id)
        )
    ).all()
    summary.reports_written += len(inserted)
    if use_model and inserted:
        await _queue_model_jobs(
            connection, publisher, week_start, inserted, figures, languages, summary
        )


async def _queue_model_jobs(
    connection: AsyncConnection,
    publisher: Publisher | None,
    week_start: date,
    reports: Sequence[Row[Any]],
    figures: dict[uuid.UUID, StatsOut],
    languages: dict[uuid.UUID, str],
    summary: GenerationSummary,
) -> None:
    now = utcnow()
    jobs = {report.id: uuid7() for report in reports}
    await connection.execute(
        insert(ChatBatchJob),
        [
            {
                "id": jobs[report.id],
                "user_id": report.user_id,
                "question": model_question(
                    figures[report.user_id], languages[report.user_id], week_start
                ),
                "scan_id": None,
                "kind": BatchKind.WEEKLY_REPORT,
                "status": BatchStatus.QUEUED,
                "created_at": now,
                "updated_at": now,
            }
            for report in reports
        ],
    )
    await connection.execute(
        update(WeeklyReport)
        .where(WeeklyReport.id == bindparam("report_id"))
        .values(chat_job_id=bindparam("job_id")),
        [{"report_id": report_id, "job_id": job_id} for report_id, job_id in jobs.items()],
    )
    # Published last, just before the chunk commits: the AI worker waits a few seconds for a
    # job it is sent to become visible.
    broker_away = publisher is None
    queue_full = False
    refused: list[uuid.UUID] = []
    for job_id in jobs.values():
        message = TaskCall(ANSWER_CHAT_BATCH, job_id).message(LOW_PRIORITY)
        if queue_full:
            refused.append(job_id)
            continue
        if not broker_away:
            assert publisher is not None
            try:
                await publisher.publish(message)
            except BrokerUnavailable as exc:
                log.warning("broker unavailable; report jobs kept in the outbox", error=repr(exc))
                broker_away = True
            except QueueFull:
                log.warning("chat.batch is full; the rest of the chunk keeps the template")
                queue_full = True
                refused.append(job_id)
                continue
            else:
                summary.model_jobs_queued += 1
                continue
        await keep_in_outbox(connection, message)
        summary.model_jobs_queued += 1
        summary.model_jobs_in_outbox += 1
    if refused:
        await connection.execute(
            update(ChatBatchJob)
            .where(ChatBatchJob.id.in_(refused))
            .values(
                status=BatchStatus.FAILED,
                error_code="queue_full",
                error_message="chat.batch was full when the weekly report was written.",
                completed_at=now,
                updated_at=now,
            )
        )
        summary.model_jobs_refused += len(refused)
