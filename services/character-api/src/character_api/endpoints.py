"""The character: /api/v1/character (DESIGN.md section 10)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Response, status

from bunri.character.campaigns import STARTED_BY_USER
from bunri.web.auth import AdminDep, CurrentUser
from bunri.web.errors import documented_errors
from bunri.web.text import PlainText
from character_api.deps import CharacterServiceDep
from character_api.schemas import (
    CampaignIn,
    CampaignOut,
    CharacterOut,
    ClaimOut,
    LeaderboardOut,
    MissionsOut,
)
from character_api.service import CHARACTER_PATH

router = APIRouter(prefix=CHARACTER_PATH, tags=["character"])

_PRIVATE = {"Cache-Control": "private, no-cache", "Vary": "Authorization"}
_CHARACTER_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "model": CharacterOut,
        "headers": {"ETag": {"description": "The character's version, quoted", "schema": {}}},
    },
    304: {"description": "If-None-Match named this version"},
}


@router.get("", response_class=Response, responses=_CHARACTER_ANSWER | documented_errors(401))
async def read_character(
    user: CurrentUser,
    characters: CharacterServiceDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The caller's character: level, points, what the next level needs, stage, and the latest
    awards. Its version is the ETag; If-None-Match with it gives 304 while nothing changed."""
    view = await characters.read(user.user_id)
    headers = {"ETag": view.etag, **_PRIVATE}
    if if_none_match is not None and view.etag in (tag.strip() for tag in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(view.body, media_type="application/json", headers=headers)


@router.get("/missions", responses=documented_errors(401))
async def list_missions(user: CurrentUser, characters: CharacterServiceDep) -> MissionsOut:
    """Today's and this week's missions (Asia/Seoul), with the caller's progress."""
    return MissionsOut(items=await characters.missions(user.user_id))


@router.post("/missions/{mission_id}/claim", responses=documented_errors(401, 404, 409))
async def claim_mission(
    user: CurrentUser,
    characters: CharacterServiceDep,
    mission_id: Annotated[PlainText, Path(max_length=64)],
) -> ClaimOut:
    """Pay a completed mission's points, once per period: a second claim, or two at once from
    two devices, gives 409 `already_claimed`; an incomplete one 409 `mission_incomplete`."""
    claimed = await characters.claim(user.user_id, mission_id)
    return ClaimOut(
        mission_id=claimed.mission_id,
        period_start=claimed.period_start,
        points=claimed.points,
        claimed_at=claimed.claimed_at,
    )


@router.get("/leaderboard", responses=documented_errors(401, 422))
async def read_leaderboard(
    user: CurrentUser,
    characters: CharacterServiceDep,
    scope: Literal["week", "all"] = "week",
    region: Annotated[
        str | None, Query(pattern=r"^\d{2}$", description="A 시·도 code (GET /api/v1/my/regions)")
    ] = None,
) -> LeaderboardOut:
    """The top 50 (nicknames only) of this week or of all time, overall or in one region, and
    the caller's own rank."""
    return await characters.leaderboard(user.user_id, scope, region)


@router.post(
    "/campaigns",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented_errors(400, 401, 403, 409),
)
async def start_campaign(
    admin: AdminDep, characters: CharacterServiceDep, campaign: CampaignIn
) -> CampaignOut:
    """Admin only: grant `points` to everyone (`all`) or to listed accounts, once each. The
    campaign is granted in chunks by the character worker; follow it at its own URL."""
    return await characters.start_campaign(
        name=campaign.name,
        points=campaign.points,
        started_by=f"{STARTED_BY_USER}{admin.user_id}",
        users=campaign.users,
    )


@router.get("/campaigns/{name}", responses=documented_errors(401, 403, 404))
async def read_campaign(
    _: AdminDep, characters: CharacterServiceDep, name: Annotated[PlainText, Path(max_length=64)]
) -> CampaignOut:
    """Admin only: how far a campaign has got."""
    return await characters.campaign(name)
