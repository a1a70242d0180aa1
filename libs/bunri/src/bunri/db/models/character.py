from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey, utcnow


class Character(Timestamps, Base):
    """A person's character: its points, from which the level and stage follow (the rules file).

    `version` moves with every change (an award, a mission's progress): it is the compare-and-set
    every write makes and the version the read cache holds.
    """

    __tablename__ = "characters"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(default=1)


class CharacterAward(UUIDPrimaryKey, Base):
    """Points given once: `key` names what they are for (an event, a mission's period, a
    campaign), unique per person, which is what makes every award exactly once."""

    __tablename__ = "character_awards"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_character_awards_user_id_created_at", "user_id", "created_at"),
        Index(
            "ix_character_awards_user_id_image_digest",
            "user_id",
            "image_digest",
            postgresql_where="image_digest IS NOT NULL",
            sqlite_where="image_digest IS NOT NULL",
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    # scan.completed, scan.feedback, chat.answered, mission, campaign
    source: Mapped[str] = mapped_column(String(32))
    points: Mapped[int]
    # Why fewer points than the rule's full amount, or none: unsure, same_image, daily_cap.
    reason: Mapped[str | None] = mapped_column(String(32))
    # What the award is about, for the person's list: the class sorted, the mission, the campaign.
    detail: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    image_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # When what it rewards happened; its day (Asia/Seoul) is the day its cap counts against.
    occurred_at: Mapped[datetime]
    day: Mapped[date]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CharacterWeek(Base):
    """Points earned in one week (from Monday, Asia/Seoul): the weekly leaderboard's source."""

    __tablename__ = "character_weeks"
    __table_args__ = (Index("ix_character_weeks_week_start", "week_start"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    week_start: Mapped[date] = mapped_column(primary_key=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class MissionProgress(Base):
    """How far a person is with one mission in one period (a day or a week)."""

    __tablename__ = "character_missions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    mission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The period's first day: the day itself, or the week's Monday.
    period_start: Mapped[date] = mapped_column(primary_key=True)
    progress: Mapped[int] = mapped_column(default=0)
    # The distinct values counted so far, for a mission that counts kinds.
    seen: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    completed_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RewardCampaign(Timestamps, Base):
    """Points for many people at once, granted in chunks by the character worker."""

    __tablename__ = "reward_campaigns"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    points: Mapped[int]
    # "all" (everyone with an account when it was started) or "users" (a list).
    audience: Mapped[str] = mapped_column(String(8))
    started_by: Mapped[str] = mapped_column(String(320))
    users_total: Mapped[int]
    chunks_total: Mapped[int]
    chunks_done: Mapped[int] = mapped_column(default=0)
    # People who got the points through this campaign (an account gone since counts as skipped).
    users_granted: Mapped[int] = mapped_column(default=0)
    users_skipped: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]


class RewardCampaignChunk(Base):
    __tablename__ = "reward_campaign_chunks"

    campaign: Mapped[str] = mapped_column(
        ForeignKey("reward_campaigns.name", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True)
    # The account ids, as strings.
    user_ids: Mapped[list[str]] = mapped_column(JSONDocument)
    granted: Mapped[int | None]
    done_at: Mapped[datetime | None]
