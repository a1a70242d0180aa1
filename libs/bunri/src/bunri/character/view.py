"""The character as a person sees it: level, points, what the next level needs, stage, and the
latest awards (with why one earned fewer points, or none)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bunri.character.rules import Rules
from bunri.db.models import Character, CharacterAward

RECENT_AWARDS = 10


def character_view(session: Session, rules: Rules, user_id: uuid.UUID) -> dict[str, Any]:
    """The document GET /api/v1/character returns (a person with no character yet has level 1)."""
    character = session.execute(
        select(Character.points, Character.version).where(Character.user_id == user_id)
    ).first()
    points, version = (0, 0) if character is None else (character.points, character.version)
    awards = session.scalars(
        select(CharacterAward)
        .where(CharacterAward.user_id == user_id)
        .order_by(CharacterAward.created_at.desc(), CharacterAward.id.desc())
        .limit(RECENT_AWARDS)
    )
    level = rules.level(points)
    stage = rules.stage(level.level)
    return {
        "version": version,
        "points": points,
        "level": level.level,
        "next_level_at": level.next_level_at,
        "points_to_next_level": level.points_to_next,
        "stage": {"id": stage.id, "name": stage.name, "name_en": stage.name_en},
        "recent_awards": [
            {
                "source": award.source,
                "points": award.points,
                "reason": award.reason,
                "detail": award.detail,
                "awarded_at": award.created_at,
            }
            for award in awards
        ],
    }
