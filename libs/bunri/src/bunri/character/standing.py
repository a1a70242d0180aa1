"""A person's character changes only through `add_points`: one compare-and-set on its version,
so that concurrent changes (an event, a claim from two devices) serialise or retry."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterWeek, Profile, User
from bunri.db.upsert import upsert_insert

# Built once: these run on every award and claim, on the session's connection (Core, not the
# ORM's statement path: nothing here is loaded as an object).
_VERSION = select(Character.version).where(Character.user_id == bindparam("user"))
_ADD_POINTS = (
    update(Character)
    .where(Character.user_id == bindparam("user"), Character.version == bindparam("seen"))
    .values(
        points=Character.points + bindparam("add"),
        version=Character.version + 1,
        updated_at=bindparam("now"),
    )
    .returning(Character.version)
)
_STANDINGS = (
    select(
        Character.user_id,
        Character.version,
        Character.points,
        CharacterWeek.points.label("week_points"),
        Profile.province_code,
    )
    .outerjoin(
        CharacterWeek,
        (CharacterWeek.user_id == Character.user_id)
        & (CharacterWeek.week_start == bindparam("week")),
    )
    .outerjoin(Profile, Profile.user_id == Character.user_id)
    .join(User, User.id == Character.user_id)
    # Someone being erased is never put back on a board or in the cache.
    .where(Character.user_id.in_(bindparam("users", expanding=True)), User.deleted_at.is_(None))
)


class CharacterConflict(Exception):
    """The character changed between reading and writing it: run the whole change again."""


@dataclass(frozen=True, slots=True)
class Standing:
    """What the read cache and the leaderboards are given after a change commits."""

    user_id: uuid.UUID
    version: int
    points: int
    week_start: date
    week_points: int
    region: str | None


def character_version(session: Session, user_id: uuid.UUID) -> int:
    """The character's version, creating the character at 0 points if it has none yet."""
    connection = session.connection()
    version: int | None = connection.scalar(_VERSION, {"user": user_id})
    if version is not None:
        return version
    now = utcnow()
    connection.execute(
        upsert_insert(connection, Character)
        .values(user_id=user_id, points=0, version=1, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Character.user_id])
    )
    version = connection.scalar(_VERSION, {"user": user_id})
    assert version is not None  # inserted above if it was not there
    return version


def add_points(session: Session, user_id: uuid.UUID, version: int, points: int, week: date) -> None:
    """Add `points` (0 still moves the version: progress changed) if the character is still at
    `version`; raises `CharacterConflict` otherwise."""
    connection = session.connection()
    moved = connection.execute(
        _ADD_POINTS, {"user": user_id, "seen": version, "add": points, "now": utcnow()}
    ).first()
    if moved is None:
        raise CharacterConflict(str(user_id))
    if points:
        weekly = upsert_insert(connection, CharacterWeek)
        connection.execute(
            weekly.values(user_id=user_id, week_start=week, points=points).on_conflict_do_update(
                index_elements=[CharacterWeek.user_id, CharacterWeek.week_start],
                set_={"points": CharacterWeek.points + weekly.excluded.points},
            )
        )


def standings(session: Session, user_ids: Sequence[uuid.UUID], week: date) -> list[Standing]:
    """These people's standings as `session` sees them (those without a character left out)."""
    rows = session.connection().execute(_STANDINGS, {"users": list(user_ids), "week": week})
    return [
        Standing(
            row.user_id, row.version, row.points, week, row.week_points or 0, row.province_code
        )
        for row in rows
    ]
