"""Domain events (bunri.messaging.events): each written to the outbox in the transaction of the
change it tells of, once per change, and relayed to the `bunri.events` topic exchange, where
`character.events` takes the three the character domain counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bunri.chat.batch import complete_job, fail_job
from bunri.db.models import (
    AnswerState,
    BatchKind,
    ChatBatchJob,
    OutboxMessage,
    ScanStatus,
)
from bunri.messaging.events import EVENT_TASK
from bunri.messaging.outbox import outbox_row, relay_once
from bunri.messaging.protocol import TaskCall, task_arguments
from bunri.messaging.publisher import TaskPublisher
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from bunri.messaging.topology import (
    CHARACTER_EVENTS,
    CHAT_ANSWERED,
    EVENTS_EXCHANGE,
    SCAN_COMPLETED,
    SCAN_FEEDBACK,
)
from bunri.worker.ledger import ScanLedger
from chat_api.conversations import ConversationStore, Question
from scan_api.service import give_feedback
from tests.scans.crash import set_queue_policy
from tests.support.backends import fresh_vhost
from tests.support.ledger import ledger_on, new_scan

RESULT = {
    "classification": {
        "major": "재활용",
        "middle": "유리병",
        "minor": None,
        "confidence": 0.91,
        "unsure": False,
    }
}


@pytest.fixture
def ledger(database_url: str, redis_url: str, clean_database: AsyncEngine) -> ScanLedger:
    return ledger_on(database_url, redis_url)


@pytest.fixture
def events_vhost() -> Iterator[str]:
    with fresh_vhost("events") as url:
        yield url


def events(ledger: ScanLedger) -> list[OutboxMessage]:
    with ledger.sessions() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.exchange == EVENTS_EXCHANGE)
                .order_by(OutboxMessage.created_at)
            )
        )


def event_kwargs(row: OutboxMessage) -> dict[str, Any]:
    args, kwargs = task_arguments(row.body, row.content_type)
    assert row.task_id == f"{EVENT_TASK}:{kwargs['user_id']}:{args[0]}"
    return kwargs


def test_a_completed_scan_is_one_event_with_its_answer(ledger: ScanLedger) -> None:
    user_id, scan_id = new_scan(ledger, ScanStatus.ANALYZING)
    assert ledger.complete_by_id(scan_id, RESULT) == "completed"
    assert ledger.complete_by_id(scan_id, RESULT) == "already_completed"
    (row,) = events(ledger)
    assert (row.routing_key, row.task_name) == (SCAN_COMPLETED, EVENT_TASK)
    kwargs = event_kwargs(row)
    assert kwargs["user_id"] == str(user_id)
    assert kwargs["subject_id"] == str(scan_id)
    assert kwargs["data"]["middle"] == "유리병"
    assert kwargs["data"]["unsure"] is False
    _, failed = new_scan(ledger, ScanStatus.ANALYZING)
    assert ledger.fail_by_id(failed, "image_corrupt", "bad") is not None
    assert len(events(ledger)) == 1  # a failed scan tells of nothing


def test_a_batch_answer_is_an_event_a_report_and_a_failure_are_not(
    ledger: ScanLedger,
) -> None:
    user_id, _ = new_scan(ledger, ScanStatus.QUEUED)
    with ledger.sessions() as session:
        jobs = [
            ChatBatchJob(user_id=user_id, question="병뚜껑은?"),
            ChatBatchJob(user_id=user_id, question="report", kind=BatchKind.WEEKLY_REPORT),
            ChatBatchJob(user_id=user_id, question="라벨은?"),
        ]
        session.add_all(jobs)
        session.commit()
        answered, report, failing = (job.id for job in jobs)
    assert complete_job(ledger.sessions, answered, "분리해 주세요.", [])
    assert not complete_job(ledger.sessions, answered, "again", [])
    assert complete_job(ledger.sessions, report, "A good week.", [])
    assert fail_job(ledger.sessions, failing, "no_model", "none")
    (row,) = events(ledger)
    assert row.routing_key == CHAT_ANSWERED
    assert event_kwargs(row)["subject_id"] == str(answered)


async def test_feedback_is_an_event_each_time_it_is_given(
    ledger: ScanLedger, clean_database: AsyncEngine
) -> None:
    user_id, scan_id = new_scan(ledger, ScanStatus.ANALYZING)
    ledger.complete_by_id(scan_id, RESULT)
    sessions = async_sessionmaker(clean_database, expire_on_commit=False)
    for middle in ("금속류", "유리병"):
        async with sessions() as session:
            await give_feedback(
                session,
                user_id=user_id,
                scan_id=scan_id,
                major="재활용폐기물",
                middle=middle,
                minor=None,
                note=None,
            )
            await session.commit()
    feedback = [row for row in events(ledger) if row.routing_key == SCAN_FEEDBACK]
    assert [event_kwargs(row)["data"]["first"] for row in feedback] == [True, False]
    assert event_kwargs(feedback[0])["data"]["predicted_middle"] == "유리병"


async def test_a_whole_live_answer_is_an_event_a_cancelled_one_is_not(
    ledger: ScanLedger, clean_database: AsyncEngine
) -> None:
    user_id, _ = new_scan(ledger, ScanStatus.QUEUED)
    store = ConversationStore(clean_database, history_messages=10)
    for state in (AnswerState.COMPLETE, AnswerState.CANCELLED):
        turn = await store.open_turn(Question(user_id, "우유팩?", None, None, None))
        await store.save_answer(turn, "헹궈서", state=state, sources=[])
    (row,) = events(ledger)
    assert row.routing_key == CHAT_ANSWERED
    assert event_kwargs(row)["data"]["path"] == "live"


async def test_the_relay_publishes_events_to_the_character_queue(
    ledger: ScanLedger, clean_database: AsyncEngine, events_vhost: str
) -> None:
    _, scan_id = new_scan(ledger, ScanStatus.ANALYZING)
    ledger.complete_by_id(scan_id, RESULT)
    publisher = TaskPublisher(events_vhost, confirm_timeout=5)
    await publisher.start()
    try:
        sessions = async_sessionmaker(clean_database, expire_on_commit=False)
        assert await relay_once(sessions, publisher) == 1
    finally:
        await publisher.close()
    assert events(ledger) == []
    connection = await aio_pika.connect(events_vhost)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(CHARACTER_EVENTS.name, ensure=False)
        message = await queue.get(no_ack=True, fail=False)
    assert message is not None
    assert message.routing_key == SCAN_COMPLETED
    assert message.exchange == EVENTS_EXCHANGE
    assert message.headers["task"] == EVENT_TASK
    args, kwargs = task_arguments(message.body, message.content_type)
    assert kwargs["subject_id"] == str(scan_id)
    assert message.headers["id"] == f"{EVENT_TASK}:{kwargs['user_id']}:{args[0]}"


async def test_a_full_events_queue_holds_back_only_events(
    ledger: ScanLedger, clean_database: AsyncEngine, events_vhost: str
) -> None:
    """Events whose queue is full wait in the outbox; a task message behind them goes."""
    _, first = new_scan(ledger, ScanStatus.ANALYZING)
    _, second = new_scan(ledger, ScanStatus.ANALYZING)
    ledger.complete_by_id(first, RESULT)
    ledger.complete_by_id(second, RESULT)
    task = TaskCall(STORE_SCAN_IMAGE, uuid.uuid4(), {"image": b"x", "media_type": "image/jpeg"})
    with ledger.sessions() as session:
        session.add(outbox_row(task.message()))
        session.commit()
    publisher = TaskPublisher(events_vhost, confirm_timeout=5)
    await publisher.start()
    try:
        set_queue_policy(events_vhost, CHARACTER_EVENTS.name, {"max-length": 1})
        sessions = async_sessionmaker(clean_database, expire_on_commit=False)
        assert await relay_once(sessions, publisher) == 2  # the task, and one event
    finally:
        await publisher.close()
    (waiting,) = events(ledger)
    assert waiting.attempts == 1
    assert "QueueFull" in (waiting.last_error or "")
    with ledger.sessions() as session:
        assert session.scalars(select(OutboxMessage.id)).all() == [waiting.id]
