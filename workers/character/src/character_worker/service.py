"""The character worker's work, over a sessionmaker: each change in one transaction, retried on a
lost compare-and-set; then what Redis holds of it (the read cache, the leaderboards)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import redis
from sqlalchemy.orm import Session, sessionmaker

from bunri.character.awards import EventOutcome, apply_event
from bunri.character.campaigns import ChunkGranted, grant_chunk
from bunri.character.missions import Missions
from bunri.character.periods import local_day, week_start
from bunri.character.projections import project
from bunri.character.rules import Rules
from bunri.character.standing import CharacterConflict, standings
from bunri.db.base import utcnow
from bunri.logging import get_logger
from bunri.messaging.events import DomainEvent

log = get_logger(__name__)
Result = TypeVar("Result")


class StillContended(Exception):
    """The character kept changing under every try: the task is retried later."""


@dataclass
class CharacterWork:
    sessions: sessionmaker[Session]
    redis: Callable[[], redis.Redis]
    rules: Rules
    missions: Missions
    conflict_attempts: int

    def handle_event(self, event: DomainEvent) -> str:
        outcome: EventOutcome = self._in_transaction(
            lambda session: apply_event(session, self.rules, self.missions, event)
        )
        if outcome.word in ("awarded", "duplicate"):
            # A duplicate projects too: its first delivery may have died before it did.
            week = outcome.week or week_start(local_day(event.occurred_at))
            self._project([event.user_id], week)
        if outcome.word == "awarded":
            log.info(
                "event awarded",
                event_id=str(event.id),
                type=event.type,
                points=outcome.points,
                completed=list(outcome.completed_missions),
            )
        return outcome.word if outcome.word != "awarded" else f"awarded:{outcome.points}"

    def grant_chunk(self, campaign: str, number: int) -> str:
        granted: ChunkGranted = self._in_transaction(
            lambda session: grant_chunk(session, campaign, number)
        )
        if granted.granted:
            self._project(granted.granted, granted.week or week_start(local_day(utcnow())))
        log.info(
            "campaign chunk",
            campaign=campaign,
            number=number,
            outcome=granted.word,
            granted=len(granted.granted),
        )
        return granted.word

    def _in_transaction(self, change: Callable[[Session], Result]) -> Result:
        for _ in range(self.conflict_attempts):
            with self.sessions() as session:
                try:
                    result = change(session)
                except CharacterConflict:
                    session.rollback()
                    continue
                session.commit()
                return result
        raise StillContended()

    def _project(self, user_ids: list[uuid.UUID], week: date) -> None:
        with self.sessions() as session:
            for start in range(0, len(user_ids), 1000):
                found = standings(session, user_ids[start : start + 1000], week)
                project(self.redis(), found)
