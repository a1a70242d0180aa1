"""The character worker as a real worker process: domain events written to the outbox in their
changes' transactions, relayed to `bunri.events`, consumed from `character.events` and turned
into points exactly once: the same event published twice pays once, and a batch of events whose
worker is SIGKILLed mid-run (a transaction of it open, waiting on a row) is redelivered and
awarded, every event once, the books balanced and the leaderboards right."""

from __future__ import annotations

import uuid

import redis as sync_redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.character.awards import event_key
from bunri.character.leaderboard import ALL_TIME, board_key
from bunri.character.projections import character_cache_key
from bunri.db.base import utcnow
from bunri.db.models import CharacterAward, MissionProgress, OutboxMessage, ScanStatus, User
from bunri.messaging.events import EVENT_TASK, DomainEvent, record_event
from bunri.messaging.topology import SCAN_COMPLETED
from bunri.worker.ledger import ScanLedger
from tests.scans.crash import Supervised
from tests.support.character import (
    RESUMED,
    apply,
    backends_waiting_on_a_lock,
    books_disagree,
    chat_answered,
    count_awards,
    digest,
    eventually,
    feedback_given,
    points_of,
    relay_all,
    rows_held,
    scan_completed,
)
from tests.support.ledger import new_scan, new_user
from tests.support.processes import log_lines

RESULT = {
    "classification": {
        "major": "재활용폐기물",
        "middle": "유리병",
        "minor": None,
        "confidence": 0.91,
        "unsure": False,
    }
}


# How a delivery ends when it is not the last of its task's.
GIVEN_BACK = ("given_back", "retry")


def task_id(event: DomainEvent) -> str:
    return f"{EVENT_TASK}:{event.user_id}:{event.id}"


def record(ledger: ScanLedger, *events: DomainEvent) -> None:
    """The events into the outbox in one transaction, as the changes they tell of write them."""
    with ledger.sessions() as session:
        for event in events:
            record_event(session, event)
        session.commit()


async def test_events_relayed_to_the_worker_become_points_once(
    worker: Supervised,
    ledger: ScanLedger,
    clean_database: AsyncEngine,
    character_vhost: str,
) -> None:
    # A scan completed as the AI worker completes it: its event is in the outbox with it.
    person, scan_id = new_scan(ledger, ScanStatus.ANALYZING)
    assert ledger.complete_by_id(scan_id, RESULT) == "completed"
    feedback = feedback_given(person, scan_id=scan_id, predicted_unsure=True)
    answer = chat_answered(person, topics=["전지"])
    # The same event's message twice (a relay that died between publishing and deleting it).
    record(ledger, feedback, answer, answer)
    # And someone who left meanwhile.
    gone = new_user(ledger)
    late = scan_completed(gone)
    record(ledger, late)
    with ledger.sessions() as session:
        session.execute(update(User).where(User.id == gone).values(deleted_at=utcnow()))
        session.commit()

    with ledger.sessions() as session:
        scan_task = session.scalars(
            select(OutboxMessage.task_id).where(
                OutboxMessage.routing_key == SCAN_COMPLETED,
                OutboxMessage.task_id.startswith(f"{EVENT_TASK}:{person}:"),
            )
        ).one()
    assert await relay_all(clean_database, character_vhost) == 5
    ours = {scan_task, task_id(feedback), task_id(answer), task_id(late)}

    def ended() -> dict[str, list[str]] | None:
        """What each of the five deliveries came to, once all five did (a copy given back
        while the other pool child still ran it comes again, and is not one of them)."""
        outcomes: dict[str, list[str]] = {}
        for line in log_lines(worker.log):
            name = str(line.get("task_id"))
            if line.get("event") != "task ended" or line.get("outcome") in GIVEN_BACK:
                continue
            if name in ours:
                outcomes.setdefault(name, []).append(str(line["outcome"]))
        return outcomes if sum(map(len, outcomes.values())) >= 5 else None

    outcomes = await eventually(ended, "the worker ended the five deliveries", seconds=60)
    assert outcomes[task_id(answer)] == ["awarded:2", "duplicate"]
    assert outcomes[task_id(feedback)] == ["awarded:5"]
    assert outcomes[task_id(late)] == ["erased"]
    assert outcomes[scan_task] == ["awarded:10"]

    assert count_awards(ledger.sessions, user_id=person) == 3
    assert count_awards(ledger.sessions, user_id=gone) == 0
    assert points_of(ledger.sessions, person) == 17
    assert books_disagree(ledger.sessions) == []
    with ledger.sessions() as session:
        completed = session.scalars(
            select(MissionProgress.mission_id).where(
                MissionProgress.user_id == person, MissionProgress.completed_at.is_not(None)
            )
        ).all()
    assert sorted(completed) == ["daily-ask-batteries", "daily-unsure-feedback"]
    # What the worker put in Redis after committing: the leaderboards, the cache's tombstone.
    assert ledger.redis.zscore(board_key(ALL_TIME, None), str(person)) == 17
    tombstone = ledger.redis.get(character_cache_key(person))
    assert isinstance(tombstone, bytes)
    assert tombstone.endswith(b"|")
    # The journal has each task done.
    record_of_answer = worker.journaled(task_id(answer))
    assert record_of_answer.state == "done"


def a_busy_week(people: list[uuid.UUID], each: int) -> list[DomainEvent]:
    """`each` events of every person, interleaved: scans (some of the same photo, past the day's
    cap), feedback and answers."""
    events = []
    for number in range(each):
        for person in people:
            kind = number % 5
            if kind in (0, 1, 2):
                photo = "the same" if number % 7 == 0 else None
                events.append(scan_completed(person, photo=photo, middle=f"kind-{number % 4}"))
            elif kind == 3:
                events.append(feedback_given(person, predicted_unsure=number % 2 == 0))
            else:
                events.append(chat_answered(person, topics=["전지"]))
    return events


def board_matches(ledger: ScanLedger, people: list[uuid.UUID]) -> bool:
    client: sync_redis.Redis = ledger.redis
    return all(
        client.zscore(board_key(ALL_TIME, None), str(person)) == points_of(ledger.sessions, person)
        for person in people
    )


async def test_a_batch_redelivered_after_the_worker_is_killed_is_awarded_once(
    worker: Supervised,
    ledger: ScanLedger,
    clean_database: AsyncEngine,
    character_vhost: str,
) -> None:
    held, *others = [new_user(ledger) for _ in range(4)]
    # `held` has a character already: the test holds its row below.
    first = chat_answered(held)
    assert apply(ledger.sessions, first).points == 2
    # 40 events of the others first, then 200 of all four, interleaved.
    events = a_busy_week(others, 14)[:40] + a_busy_week([held, *others], 50)
    record(ledger, *events)
    starts = worker.starts
    resumed = worker.log_count(RESUMED)

    with rows_held(
        ledger.sessions, "SELECT user_id FROM characters WHERE user_id = :id FOR UPDATE", id=held
    ):
        assert await relay_all(clean_database, character_vhost) == len(events)
        # The worker is consuming the batch: an event of `held` is mid-transaction, its award
        # written, waiting to move the character's points.
        await eventually(
            lambda: backends_waiting_on_a_lock(ledger.sessions) >= 1,
            "an event of the held character waits for its row",
            seconds=60,
        )
        assert count_awards(ledger.sessions) >= 20  # the others' events before it
        worker.kill()  # the worker and its pool children, SIGKILLed
    await eventually(lambda: worker.starts > starts, "the supervisor restarted the worker")
    await eventually(
        lambda: count_awards(ledger.sessions) == len(events) + 1,
        "every event awarded after the restart",
        seconds=90,
    )

    # The deliveries the kill interrupted ran again from the start (the journal had them).
    assert worker.log_count(RESUMED) > resumed
    with ledger.sessions() as session:
        keys = session.execute(
            select(CharacterAward.key, func.count()).group_by(CharacterAward.key)
        ).all()
        # The day's cap held for every person, and the same photo paid at most once.
        scans_by_day = session.execute(
            select(CharacterAward.user_id, CharacterAward.day, func.sum(CharacterAward.points))
            .where(CharacterAward.source == "scan.completed")
            .group_by(CharacterAward.user_id, CharacterAward.day)
        ).all()
        same_photo_paid = session.execute(
            select(CharacterAward.user_id, func.count())
            .where(CharacterAward.image_digest == bytes.fromhex(digest("the same")))
            .where(CharacterAward.points > 0)
            .group_by(CharacterAward.user_id)
        ).all()
    assert all(count == 1 for _, count in keys)
    assert {key for key, _ in keys} == {event_key(event.id) for event in [first, *events]}
    assert books_disagree(ledger.sessions) == []
    assert all(points <= 100 for _, _, points in scans_by_day), scans_by_day
    assert all(count == 1 for _, count in same_photo_paid), same_photo_paid
    # Every delivery ended, the redelivered ones included: the boards say what PostgreSQL says.
    await eventually(
        lambda: board_matches(ledger, [held, *others]), "the leaderboard caught up", seconds=30
    )
