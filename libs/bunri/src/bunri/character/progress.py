"""Missions' progress, moved by the events that count towards them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunri.character.missions import Missions
from bunri.character.periods import period_start
from bunri.db.base import utcnow
from bunri.db.models import MissionProgress
from bunri.db.upsert import upsert_insert


def count_towards_missions(
    session: Session,
    missions: Missions,
    user_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    occurred_at: datetime,
) -> list[str]:
    """Move every mission this event counts towards; the ids of those it completed."""
    completed = []
    for mission in missions.for_event(event_type, data):
        start = period_start(mission.period, occurred_at)
        key = {"user_id": user_id, "mission_id": mission.id, "period_start": start}
        session.execute(
            upsert_insert(session, MissionProgress)
            .values(**key, progress=0, seen=[], updated_at=utcnow())
            .on_conflict_do_nothing()
        )
        row = session.scalars(select(MissionProgress).filter_by(**key).with_for_update()).one()
        if mission.distinct is None:
            row.progress += 1
        else:
            value = str(data[mission.distinct])
            if value in row.seen:
                continue
            row.seen = [*row.seen, value]
            row.progress = len(row.seen)
        if row.progress >= mission.goal and row.completed_at is None:
            row.completed_at = utcnow()
            completed.append(mission.id)
    return completed
