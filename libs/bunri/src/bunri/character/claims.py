"""Claiming a completed mission: its points once per period, whatever happens at once.

The award (`mission:<id>:<period start>`, unique per person) is written in the claim's
transaction: a second claim, even one racing the first from another device, finds it and is
refused with `already_claimed`. The points go on by compare-and-set on the character's version;
a lost race raises `CharacterConflict` and the caller runs the claim again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bunri.character.errors import AlreadyClaimed, MissionIncomplete, UnknownMission
from bunri.character.missions import Missions
from bunri.character.periods import local_day, period_start, week_start
from bunri.character.standing import add_points, character_version
from bunri.db.base import utcnow
from bunri.db.models import CharacterAward, MissionProgress
from bunri.db.upsert import upsert_insert
from bunri.ids import uuid7

MISSION = "mission"

_THIS_PERIOD = (
    MissionProgress.user_id == bindparam("user"),
    MissionProgress.mission_id == bindparam("mission"),
    MissionProgress.period_start == bindparam("start"),
)
_PROGRESS = select(
    MissionProgress.progress, MissionProgress.completed_at, MissionProgress.claimed_at
).where(*_THIS_PERIOD)
_CLAIMED = update(MissionProgress).where(*_THIS_PERIOD).values(claimed_at=bindparam("now"))


@dataclass(frozen=True, slots=True)
class Claimed:
    mission_id: str
    period_start: date
    points: int
    claimed_at: datetime
    week: date


def claim_mission(
    session: Session, missions: Missions, user_id: uuid.UUID, mission_id: str
) -> Claimed:
    """Pay the mission's points for the current period, in `session`'s transaction."""
    mission = missions.get(mission_id)
    if mission is None:
        raise UnknownMission()
    now = utcnow()
    start = period_start(mission.period, now)
    period = {"user": user_id, "mission": mission.id, "start": start}
    connection = session.connection()
    progress = connection.execute(_PROGRESS, period).first()
    if progress is not None and progress.claimed_at is not None:
        raise AlreadyClaimed()
    if progress is None or progress.completed_at is None:
        raise MissionIncomplete(
            extra={"progress": 0 if progress is None else progress.progress, "goal": mission.goal}
        )
    version = character_version(session, user_id)
    day = local_day(now)
    paid = connection.execute(
        upsert_insert(connection, CharacterAward)
        .values(
            id=uuid7(),
            user_id=user_id,
            key=f"{MISSION}:{mission.id}:{start.isoformat()}",
            source=MISSION,
            points=mission.points,
            detail={"mission_id": mission.id, "title": mission.title, "title_en": mission.title_en},
            occurred_at=now,
            day=day,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[CharacterAward.user_id, CharacterAward.key])
        .returning(CharacterAward.id)
    ).first()
    if paid is None:
        raise AlreadyClaimed()
    connection.execute(_CLAIMED, {**period, "now": now})
    week = week_start(day)
    add_points(session, user_id, version, mission.points, week)
    return Claimed(mission.id, start, mission.points, now, week)
