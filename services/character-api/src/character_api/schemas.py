"""character-api's request and response models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bunri.web.text import PlainText


class StageOut(BaseModel):
    id: str
    name: str
    name_en: str


class AwardOut(BaseModel):
    source: str = Field(
        description="scan.completed, scan.feedback, chat.answered, mission or campaign"
    )
    points: int
    reason: str | None = Field(
        description="Why fewer points than the rule's full amount, or none: unsure, "
        "same_image, daily_cap, not_first"
    )
    detail: dict[str, Any]
    awarded_at: datetime


class CharacterOut(BaseModel):
    version: int = Field(description="Moves with every change; the ETag")
    points: int
    level: int
    next_level_at: int | None = Field(description="None at the last level")
    points_to_next_level: int | None
    stage: StageOut
    recent_awards: list[AwardOut]


class MissionOut(BaseModel):
    id: str
    title: str
    title_en: str
    period: Literal["daily", "weekly"]
    period_start: date
    ends_at: datetime
    goal: int
    progress: int
    points: int
    completed: bool
    claimed: bool


class MissionsOut(BaseModel):
    items: list[MissionOut]


class ClaimOut(BaseModel):
    mission_id: str
    period_start: date
    points: int
    claimed_at: datetime


class LeaderEntry(BaseModel):
    rank: int
    nickname: str
    points: int
    me: bool


class MyRank(BaseModel):
    rank: int
    points: int


class LeaderboardOut(BaseModel):
    scope: Literal["week", "all"]
    week_start: date | None = Field(description="The week's Monday (Asia/Seoul), for scope=week")
    region: str | None
    entries: list[LeaderEntry]
    me: MyRank | None = Field(description="The caller's place; None when not on this board")


class CampaignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = Field(
        min_length=1, max_length=64, description="Lower-case letters, digits, '.', '_', '-'"
    )
    points: int = Field(ge=1, le=100_000)
    all: bool = Field(default=False, description="Everyone with an account now")
    users: list[uuid.UUID] | None = Field(
        default=None,
        min_length=1,
        max_length=1_000_000,
        description="These accounts (instead of `all`)",
    )

    @model_validator(mode="after")
    def one_audience(self) -> CampaignIn:
        if self.all == (self.users is not None):
            raise ValueError("give either all=true or users, not both")
        return self


class CampaignOut(BaseModel):
    name: str
    points: int
    audience: str
    started_by: str
    users_total: int
    users_granted: int
    users_skipped: int
    chunks_total: int
    chunks_done: int
    finished: bool
    created_at: datetime
    finished_at: datetime | None
