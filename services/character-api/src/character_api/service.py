"""The character as character-api serves it: read through the versioned cache, missions and
their claims, leaderboards, and reward campaigns (admin).

The domain's rules live in `bunri.character`, written over a synchronous session so that the
worker, the CLI and this service share them; here they run on the async session's connection
(`AsyncSession.run_sync`), in a transaction committed at this boundary.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bunri.character import leaderboard
from bunri.character.campaigns import get_campaign, start_campaign
from bunri.character.claims import Claimed, claim_mission
from bunri.character.errors import ClaimContended
from bunri.character.missions import Missions
from bunri.character.periods import local_day, period_end, period_start, week_start
from bunri.character.projections import async_character_cache, project_async
from bunri.character.rules import Rules
from bunri.character.standing import CharacterConflict, Standing, standings
from bunri.character.view import character_view
from bunri.db.base import utcnow
from bunri.db.models import MissionProgress, RewardCampaign, User
from bunri.regions import RegionCatalog, UnknownRegion
from character_api.schemas import (
    CampaignOut,
    CharacterOut,
    LeaderboardOut,
    LeaderEntry,
    MissionOut,
    MyRank,
)

CHARACTER_PATH = "/api/v1/character"
Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class CharacterView:
    version: int
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


class CharacterService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        cache_redis: Redis,
        rules: Rules,
        missions: Missions,
        regions: RegionCatalog,
        claim_attempts: int,
    ) -> None:
        self._sessions = sessions
        self._redis = cache_redis
        self._cache = async_character_cache(cache_redis)
        self._rules = rules
        self._missions = missions
        self._regions = regions
        self._claim_attempts = claim_attempts

    async def read(self, user_id: uuid.UUID) -> CharacterView:
        cached = await self._cache.get(user_id)
        if cached is not None:
            return CharacterView(*cached)
        async with self._sessions() as session:
            document = await session.run_sync(
                lambda sync: character_view(sync, self._rules, user_id)
            )
        body = CharacterOut.model_validate(document).model_dump_json().encode()
        view = CharacterView(document["version"], body)
        # Version 0 (no character yet) too: the first award's write is a newer version.
        await self._cache.fill(user_id, view.version, body)
        return view

    async def missions(self, user_id: uuid.UUID) -> list[MissionOut]:
        now = utcnow()
        async with self._sessions() as session:
            rows = {
                (row.mission_id, row.period_start): row
                for row in await session.scalars(
                    select(MissionProgress).where(
                        MissionProgress.user_id == user_id,
                        MissionProgress.period_start >= week_start(local_day(now)),
                    )
                )
            }
        items = []
        for mission in self._missions.all:
            start = period_start(mission.period, now)
            row = rows.get((mission.id, start))
            items.append(
                MissionOut(
                    id=mission.id,
                    title=mission.title,
                    title_en=mission.title_en,
                    period=mission.period,
                    period_start=start,
                    ends_at=period_end(mission.period, start),
                    goal=mission.goal,
                    progress=min(row.progress if row else 0, mission.goal),
                    points=mission.points,
                    completed=bool(row and row.completed_at),
                    claimed=bool(row and row.claimed_at),
                )
            )
        return items

    async def claim(self, user_id: uuid.UUID, mission_id: str) -> Claimed:
        def change(sync: Session) -> tuple[Claimed, list[Standing]]:
            claimed = claim_mission(sync, self._missions, user_id, mission_id)
            return claimed, standings(sync, [user_id], claimed.week)

        claimed, after = await self._write(change)
        await project_async(self._redis, after)
        return claimed

    async def _write(self, change: Callable[[Session], Result]) -> Result:
        """`change` in a transaction of its own, run again after a lost compare-and-set."""
        for _ in range(self._claim_attempts):
            async with self._sessions() as session:
                try:
                    result = await session.run_sync(change)
                except CharacterConflict:
                    await session.rollback()
                    continue
                await session.commit()
                return result
        raise ClaimContended()

    async def leaderboard(
        self, user_id: uuid.UUID, scope: str, region: str | None
    ) -> LeaderboardOut:
        if region is not None and self._regions.province(region) is None:
            raise UnknownRegion()
        week = week_start(local_day(utcnow()))
        week_or_none = week if scope == leaderboard.WEEK else None
        key = leaderboard.board_key(scope, week_or_none, region)
        async with self._sessions() as session:
            await leaderboard.ensure_built(self._redis, session, scope, week)
            entries = await leaderboard.top(self._redis, key)
            named = await session.execute(
                select(User.id, User.nickname).where(
                    User.id.in_([entry.user_id for entry in entries]),
                    User.deleted_at.is_(None),
                )
            )
            names = {row.id: row.nickname for row in named}
        mine = await leaderboard.rank_of(self._redis, key, user_id)
        return LeaderboardOut(
            scope=scope,
            week_start=week_or_none,
            region=region,
            entries=[
                LeaderEntry(
                    rank=entry.rank,
                    nickname=names[entry.user_id],
                    points=entry.points,
                    me=entry.user_id == user_id,
                )
                for entry in entries
                if entry.user_id in names
            ],
            me=None if mine is None else MyRank(rank=mine.rank, points=mine.points),
        )

    async def start_campaign(
        self, *, name: str, points: int, started_by: str, users: Sequence[uuid.UUID] | None
    ) -> CampaignOut:
        async with self._sessions() as session:
            campaign = await session.run_sync(
                lambda sync: start_campaign(
                    sync, name=name, points=points, started_by=started_by, users=users
                )
            )
            out = campaign_out(campaign)
            await session.commit()
        return out

    async def campaign(self, name: str) -> CampaignOut:
        async with self._sessions() as session:
            campaign = await session.run_sync(lambda sync: get_campaign(sync, name))
            return campaign_out(campaign)


def campaign_out(campaign: RewardCampaign) -> CampaignOut:
    fields: dict[str, Any] = {
        name: getattr(campaign, name)
        for name in (
            "name",
            "points",
            "audience",
            "started_by",
            "users_total",
            "users_granted",
            "users_skipped",
            "chunks_total",
            "chunks_done",
            "created_at",
            "finished_at",
        )
    }
    return CampaignOut(**fields, finished=campaign.finished_at is not None)
