"""Points from the platform's events (bunri.character.awards.apply_event) on the real
PostgreSQL, as the character worker applies them: what each event earns and why it earned less,
the day's caps (Asia/Seoul days), exactly once per event, nothing for an erased person, the
missions' progress; and many events of one person at once, serialised by the character's
compare-and-set."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bunri.character.awards import apply_event
from bunri.character.missions import load_missions
from bunri.character.rules import load_rules
from bunri.character.standing import CharacterConflict
from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterWeek, MissionProgress, User
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.messaging.events import DomainEvent
from bunri.settings import BunriSettings
from bunri.worker.ledger import ScanLedger
from tests.support.character import (
    apply,
    awards_of,
    books_disagree,
    chat_answered,
    feedback_given,
    points_of,
    scan_completed,
)
from tests.support.ledger import new_user

# A Wednesday, noon in Seoul (03:00 UTC): every day and week below is Asia/Seoul's.
NOON = datetime(2026, 3, 4, 3, 0, tzinfo=UTC)
WEEK = date(2026, 3, 2)


def progress(ledger: ScanLedger, user_id: uuid.UUID) -> dict[str, MissionProgress]:
    with ledger.sessions() as session:
        rows = session.scalars(select(MissionProgress).where(MissionProgress.user_id == user_id))
        return {f"{row.mission_id}@{row.period_start}": row for row in rows}


def character(ledger: ScanLedger, user_id: uuid.UUID) -> Character | None:
    with ledger.sessions() as session:
        return session.get(Character, user_id)


def week_points(ledger: ScanLedger, user_id: uuid.UUID) -> dict[date, int]:
    with ledger.sessions() as session:
        rows = session.execute(
            select(CharacterWeek.week_start, CharacterWeek.points).where(
                CharacterWeek.user_id == user_id
            )
        )
        return {row.week_start: row.points for row in rows}


def test_a_sure_scan_earns_ten_an_unsure_one_three(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    sure = scan_completed(person, middle="유리병", at=NOON)
    outcome = apply(ledger.sessions, sure)
    assert (outcome.word, outcome.points, outcome.week) == ("awarded", 10, WEEK)

    unsure = apply(ledger.sessions, scan_completed(person, unsure=True, at=NOON))
    assert (unsure.word, unsure.points) == ("awarded", 3)

    first, second = awards_of(ledger.sessions, person)
    assert (first.source, first.points, first.reason) == ("scan.completed", 10, None)
    assert first.detail == {
        "scan_id": str(sure.subject_id),
        "major": "재활용폐기물",
        "middle": "유리병",
    }
    assert first.key == f"event:{sure.id}"
    assert first.day == date(2026, 3, 4)
    assert (second.points, second.reason) == (3, "unsure")
    assert points_of(ledger.sessions, person) == 13
    assert week_points(ledger, person) == {WEEK: 13}
    found = character(ledger, person)
    assert found is not None
    assert found.version == 3  # made at 1, moved by each award


def test_the_same_photo_within_a_day_earns_nothing_and_counts_for_no_mission(
    ledger: ScanLedger,
) -> None:
    person = new_user(ledger)
    first = apply(ledger.sessions, scan_completed(person, photo="bottle", at=NOON))
    assert first.points == 10
    # The same bytes again, an hour later, even answered as something else:
    again = apply(
        ledger.sessions,
        scan_completed(person, photo="bottle", middle="금속류", at=NOON + timedelta(hours=1)),
    )
    assert (again.word, again.points, again.completed_missions) == ("awarded", 0, ())
    unsure = apply(
        ledger.sessions,
        scan_completed(person, photo="bottle", unsure=True, at=NOON + timedelta(hours=23)),
    )
    assert unsure.points == 0
    reasons = [(award.points, award.reason) for award in awards_of(ledger.sessions, person)]
    assert reasons == [(10, None), (0, "same_image"), (0, "same_image")]
    # The second scan was of another kind, but the same photo counts for no mission.
    rows = progress(ledger, person)
    kinds = rows["daily-three-kinds@2026-03-04"]
    assert (kinds.progress, kinds.seen) == (1, ["유리병"])
    assert rows[f"weekly-ten-scans@{WEEK}"].progress == 1

    # More than a day after the first time it paid, it pays again.
    later = apply(
        ledger.sessions,
        scan_completed(person, photo="bottle", at=NOON + timedelta(hours=24, minutes=1)),
    )
    assert (later.points, awards_of(ledger.sessions, person)[-1].reason) == (10, None)
    assert points_of(ledger.sessions, person) == 20


def test_a_day_s_points_stop_at_its_cap(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    earned = [
        apply(ledger.sessions, scan_completed(person, at=NOON + timedelta(minutes=n))).points
        for n in range(9)
    ]
    assert earned == [10] * 9
    assert apply(ledger.sessions, scan_completed(person, unsure=True, at=NOON)).points == 3
    # 93 so far: the next sure scan earns what is left of the 100, the one after nothing.
    partial = apply(ledger.sessions, scan_completed(person, at=NOON + timedelta(hours=1)))
    capped = apply(ledger.sessions, scan_completed(person, at=NOON + timedelta(hours=2)))
    assert (partial.points, capped.points) == (7, 0)
    assert [(a.points, a.reason) for a in awards_of(ledger.sessions, person)[-2:]] == [
        (7, "daily_cap"),
        (0, "daily_cap"),
    ]
    # Each source has its own cap: feedback and chat still earn today.
    assert apply(ledger.sessions, feedback_given(person, at=NOON)).points == 5
    chats = [apply(ledger.sessions, chat_answered(person, at=NOON)).points for _ in range(6)]
    assert chats == [2, 2, 2, 2, 2, 0]
    # The day ends at midnight in Seoul (15:00 UTC): one minute before it is still today,
    # one minute after it is tomorrow, with a cap of its own.
    midnight = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    before = apply(ledger.sessions, scan_completed(person, at=midnight - timedelta(minutes=1)))
    after = apply(ledger.sessions, scan_completed(person, at=midnight + timedelta(minutes=1)))
    assert (before.points, after.points) == (0, 10)
    assert awards_of(ledger.sessions, person)[-1].day == date(2026, 3, 5)
    assert points_of(ledger.sessions, person) == 100 + 5 + 10 + 10
    assert books_disagree(ledger.sessions) == []


def test_feedback_pays_the_first_time_and_chat_for_an_answer(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    scan_id = uuid.uuid4()
    first = apply(ledger.sessions, feedback_given(person, scan_id=scan_id, at=NOON))
    changed = apply(ledger.sessions, feedback_given(person, scan_id=scan_id, first=False, at=NOON))
    answered = apply(ledger.sessions, chat_answered(person, at=NOON))
    assert (first.points, changed.points, answered.points) == (5, 0, 2)
    feedback, not_first, chat = awards_of(ledger.sessions, person)
    assert (feedback.source, feedback.reason, feedback.detail) == (
        "scan.feedback",
        None,
        {"scan_id": str(scan_id)},
    )
    assert (not_first.points, not_first.reason) == (0, "not_first")
    assert (chat.source, chat.points, chat.reason) == ("chat.answered", 2, None)
    assert points_of(ledger.sessions, person) == 7


def test_the_same_event_twice_changes_nothing(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    event = scan_completed(person, at=NOON)
    assert apply(ledger.sessions, event).word == "awarded"
    before = character(ledger, person)
    assert before is not None
    missions_before = {key: row.progress for key, row in progress(ledger, person).items()}

    again = apply(ledger.sessions, event)
    assert (again.word, again.points, again.completed_missions) == ("duplicate", 0, ())
    after = character(ledger, person)
    assert after is not None
    assert (after.points, after.version) == (before.points, before.version) == (10, 2)
    assert len(awards_of(ledger.sessions, person)) == 1
    assert week_points(ledger, person) == {WEEK: 10}
    assert {key: row.progress for key, row in progress(ledger, person).items()} == missions_before


def test_an_erased_person_gets_nothing(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    with ledger.sessions() as session:
        session.execute(update(User).where(User.id == person).values(deleted_at=utcnow()))
        session.commit()
    for event in (
        scan_completed(person, at=NOON),
        feedback_given(person, at=NOON),
        chat_answered(person, topics=["전지"], at=NOON),
    ):
        assert apply(ledger.sessions, event).word == "erased"
    # And someone whose rows are already gone, the same.
    assert apply(ledger.sessions, scan_completed(uuid.uuid4(), at=NOON)).word == "erased"
    assert character(ledger, person) is None
    assert awards_of(ledger.sessions, person) == []
    assert progress(ledger, person) == {}


def test_an_event_of_another_kind_is_ignored(ledger: ScanLedger) -> None:
    person = new_user(ledger)
    event = DomainEvent("scan.started", person, uuid.uuid4(), {}, occurred_at=NOON)
    assert apply(ledger.sessions, event).word == "ignored"
    assert character(ledger, person) is None


def test_three_kinds_of_recyclables_complete_a_daily_mission(ledger: ScanLedger) -> None:
    person = new_user(ledger)

    def scan(middle: str, **data: Any) -> tuple[str, ...]:
        event = scan_completed(person, middle=middle, at=NOON, **data)
        return apply(ledger.sessions, event).completed_missions

    assert scan("유리병") == ()
    assert scan("금속류") == ()
    assert scan("유리병") == ()  # a kind counted already
    assert scan("플라스틱류", unsure=True) == ()  # an unsure answer counts for no mission
    assert scan("음식물", major="음식물류폐기물") == ()  # not a recyclable
    kinds = progress(ledger, person)["daily-three-kinds@2026-03-04"]
    assert (kinds.progress, sorted(kinds.seen), kinds.completed_at) == (
        2,
        ["금속류", "유리병"],
        None,
    )

    assert scan("플라스틱류") == ("daily-three-kinds",)
    assert scan("종이류") == ()  # completed once
    kinds = progress(ledger, person)["daily-three-kinds@2026-03-04"]
    assert kinds.completed_at is not None
    assert kinds.claimed_at is None
    # Sure scans count towards the week's ten, whatever their kind; the unsure one does not.
    assert progress(ledger, person)[f"weekly-ten-scans@{WEEK}"].progress == 6
    # The next day, the daily mission starts again.
    tomorrow = scan_completed(person, middle="유리병", at=NOON + timedelta(days=1))
    assert apply(ledger.sessions, tomorrow).completed_missions == ()
    assert progress(ledger, person)["daily-three-kinds@2026-03-05"].progress == 1


def test_asking_about_batteries_and_feedback_on_an_unsure_answer_complete_missions(
    ledger: ScanLedger,
) -> None:
    person = new_user(ledger)
    paper = apply(ledger.sessions, chat_answered(person, topics=["종이"], at=NOON))
    assert paper.completed_missions == ()
    batteries = apply(ledger.sessions, chat_answered(person, topics=["형광등", "전지"], at=NOON))
    assert batteries.completed_missions == ("daily-ask-batteries",)
    sure = apply(ledger.sessions, feedback_given(person, predicted_unsure=False, at=NOON))
    assert sure.completed_missions == ()
    unsure = apply(ledger.sessions, feedback_given(person, predicted_unsure=True, at=NOON))
    assert unsure.completed_missions == ("daily-unsure-feedback",)
    rows = progress(ledger, person)
    assert rows["daily-ask-batteries@2026-03-04"].progress == 1
    assert rows[f"weekly-five-questions@{WEEK}"].progress == 2
    assert rows["daily-unsure-feedback@2026-03-04"].completed_at is not None


def test_events_of_one_person_at_once_are_serialised(ledger: ScanLedger, database_url: str) -> None:
    """Eight threads apply one person's events at once, as the worker's pool children do, each
    retrying a lost compare-and-set: the same photo pays once, the cap holds, and the
    character's points are the sum of its awards."""
    person = new_user(ledger)
    engine = create_sync_engine(BunriSettings(database_url=database_url), pool_size=8)
    sessions = create_sync_sessionmaker(engine)
    rules, missions = load_rules(), load_missions()
    conflicts = 0
    counting = threading.Lock()

    def apply_retrying(event: DomainEvent) -> int:
        nonlocal conflicts
        while True:
            with sessions() as session:
                try:
                    outcome = apply_event(session, rules, missions, event)
                except CharacterConflict:
                    session.rollback()
                    with counting:
                        conflicts += 1
                    continue
                session.commit()
                return outcome.points

    same_photo = [scan_completed(person, photo="can", at=NOON) for _ in range(8)]
    many = [scan_completed(person, at=NOON) for _ in range(16)]
    try:
        with ThreadPoolExecutor(8) as pool:
            paid_same = list(pool.map(apply_retrying, same_photo))
            paid_many = list(pool.map(apply_retrying, many))
    finally:
        engine.dispose()
    assert sorted(paid_same) == [0] * 7 + [10]
    assert sum(paid_many) == 90  # the cap: 100 a day, 10 of it for the photo above
    assert points_of(ledger.sessions, person) == 100
    assert books_disagree(ledger.sessions) == []
    kinds = progress(ledger, person)[f"weekly-ten-scans@{WEEK}"]
    assert kinds.progress == 1 + 16  # the same photo counted once
