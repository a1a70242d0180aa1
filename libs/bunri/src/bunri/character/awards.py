"""Points for what a person did, from the domain events, exactly once per event.

An event's award is keyed `event:<id>` (unique per person) and written in one transaction with
the points, the week's points and the missions' progress: a redelivered or duplicated event
finds its award and changes nothing. What an event earns follows the rules file: fewer points
for an unsure answer, none for the same photo again within the window or past the day's cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bunri.character.missions import Missions
from bunri.character.periods import local_day, week_start
from bunri.character.progress import count_towards_missions
from bunri.character.rules import EarnRule, Rules
from bunri.character.standing import add_points, character_version
from bunri.db.base import utcnow
from bunri.db.models import CharacterAward, User
from bunri.db.upsert import upsert_insert
from bunri.ids import uuid7
from bunri.messaging.events import DomainEvent
from bunri.messaging.topology import CHAT_ANSWERED, SCAN_COMPLETED, SCAN_FEEDBACK

UNSURE = "unsure"
SAME_IMAGE = "same_image"
DAILY_CAP = "daily_cap"
NOT_FIRST = "not_first"


@dataclass(frozen=True, slots=True)
class Earned:
    points: int
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    image_digest: bytes | None = None


@dataclass(frozen=True, slots=True)
class EventOutcome:
    # awarded, duplicate, erased, ignored (a type this domain does not count)
    word: str
    points: int = 0
    completed_missions: tuple[str, ...] = ()
    week: date | None = None


def event_key(event_id: uuid.UUID) -> str:
    return f"event:{event_id}"


def apply_event(
    session: Session, rules: Rules, missions: Missions, event: DomainEvent
) -> EventOutcome:
    """Apply `event` in `session`'s transaction (the caller commits). Raises
    `CharacterConflict` when the character changed meanwhile: roll back and apply it again."""
    if event.type not in (SCAN_COMPLETED, SCAN_FEEDBACK, CHAT_ANSWERED):
        return EventOutcome("ignored")
    deleted = session.execute(select(User.deleted_at).where(User.id == event.user_id)).first()
    if deleted is None or deleted.deleted_at is not None:
        return EventOutcome("erased")
    key = event_key(event.id)
    if _awarded(session, event.user_id, key):
        return EventOutcome("duplicate")
    version = character_version(session, event.user_id)
    day = local_day(event.occurred_at)
    earned = _earned(session, rules, event, day)
    inserted = session.execute(
        upsert_insert(session, CharacterAward)
        .values(
            id=uuid7(),
            user_id=event.user_id,
            key=key,
            source=event.type,
            points=earned.points,
            reason=earned.reason,
            detail=earned.detail,
            image_digest=earned.image_digest,
            occurred_at=event.occurred_at,
            day=day,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[CharacterAward.user_id, CharacterAward.key])
        .returning(CharacterAward.id)
    ).first()
    if inserted is None:
        return EventOutcome("duplicate")
    # The same photo again counts for nothing, missions included.
    completed = (
        []
        if earned.reason == SAME_IMAGE
        else count_towards_missions(
            session, missions, event.user_id, event.type, event.data, event.occurred_at
        )
    )
    week = week_start(day)
    add_points(session, event.user_id, version, earned.points, week)
    return EventOutcome("awarded", earned.points, tuple(completed), week)


def _awarded(session: Session, user_id: uuid.UUID, key: str) -> bool:
    found = session.scalar(
        select(CharacterAward.id).where(
            CharacterAward.user_id == user_id, CharacterAward.key == key
        )
    )
    return found is not None


def _earned(session: Session, rules: Rules, event: DomainEvent, day: date) -> Earned:
    data = event.data
    if event.type == SCAN_COMPLETED:
        detail = {
            "scan_id": str(event.subject_id),
            "major": data.get("major"),
            "middle": data.get("middle"),
        }
        digest = _digest(data.get("image_digest"))
        if digest is not None and _paid_for_nearby(session, rules, event, digest):
            return Earned(0, SAME_IMAGE, detail, digest)
        full = rules.scan.unsure_points if data.get("unsure") else rules.scan.points
        reason = UNSURE if data.get("unsure") else None
        return _capped(session, event, day, rules.scan, full, reason, detail, digest)
    if event.type == SCAN_FEEDBACK:
        detail = {"scan_id": str(event.subject_id)}
        if data.get("first") is False:
            return Earned(0, NOT_FIRST, detail)
        rule = rules.feedback
        return _capped(session, event, day, rule, rule.points, None, detail, None)
    detail = {"answer_id": str(event.subject_id)}
    return _capped(session, event, day, rules.chat, rules.chat.points, None, detail, None)


def _capped(
    session: Session,
    event: DomainEvent,
    day: date,
    rule: EarnRule,
    points: int,
    reason: str | None,
    detail: dict[str, Any],
    digest: bytes | None,
) -> Earned:
    so_far = session.scalar(
        select(func.coalesce(func.sum(CharacterAward.points), 0)).where(
            CharacterAward.user_id == event.user_id,
            CharacterAward.source == event.type,
            CharacterAward.day == day,
        )
    )
    room = max(rule.daily_cap - int(so_far or 0), 0)
    if points > room:
        return Earned(room, DAILY_CAP, detail, digest)
    return Earned(points, reason, detail, digest)


def _paid_for_nearby(session: Session, rules: Rules, event: DomainEvent, digest: bytes) -> bool:
    """Whether the same photo already earned points within the window on either side of this
    scan: events are not applied in the order they happened (retries, redeliveries, two
    workers), and whichever of two such scans is applied first is the one that pays."""
    window = timedelta(hours=rules.scan.same_image_hours)
    paid = session.scalar(
        select(CharacterAward.id)
        .where(
            CharacterAward.user_id == event.user_id,
            CharacterAward.image_digest == digest,
            CharacterAward.source == SCAN_COMPLETED,
            CharacterAward.points > 0,
            CharacterAward.occurred_at > event.occurred_at - window,
            CharacterAward.occurred_at < event.occurred_at + window,
        )
        .limit(1)
    )
    return paid is not None


def _digest(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        return None
    return digest if len(digest) == 32 else None
