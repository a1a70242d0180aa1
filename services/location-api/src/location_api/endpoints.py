"""Where to take it: /api/v1/locations (DESIGN.md section 10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from bunri.locations.cells import MAX_RADIUS_M
from bunri.locations.kinds import LOCATIONS_PATH, all_kinds
from bunri.web.auth import CurrentUser
from bunri.web.errors import documented_errors
from bunri.web.text import PlainText
from location_api.deps import LocationServiceDep
from location_api.schemas import ForClassOut, KindOut, KindsOut, NearbyOut

router = APIRouter(prefix=LOCATIONS_PATH, tags=["locations"])

Latitude = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="WGS84")]
Longitude = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="WGS84")]
Radius = Annotated[int, Query(ge=1, le=MAX_RADIUS_M, description=f"Metres, at most {MAX_RADIUS_M}")]
Limit = Annotated[int, Query(ge=1, le=50)]
# hit, stale or miss: how the cache answered (the least fresh of the kinds' entries).
CACHE_HEADER = "X-Cache"


@router.get("/kinds", responses=documented_errors(401))
async def list_kinds(user: CurrentUser) -> KindsOut:
    """The kinds of collection point, and the taxonomy classes whose guides lead to each."""
    return KindsOut(items=[KindOut.of(kind) for kind in all_kinds().values()])


@router.get("/nearby", responses=documented_errors(401, 422, 503))
async def nearby(
    user: CurrentUser,
    locations: LocationServiceDep,
    response: Response,
    lat: Latitude,
    lon: Longitude,
    kind: Annotated[
        PlainText | None, Query(description="A kind's code; all kinds if left out")
    ] = None,
    radius: Radius = 1_000,
    limit: Limit = 20,
) -> NearbyOut:
    """Collection points around a position, nearest first, with their distance in metres."""
    kinds, answer = await locations.nearby(lat, lon, kind, radius, limit)
    response.headers[CACHE_HEADER] = answer.cache
    return NearbyOut.of(kinds, radius, answer)


@router.get("/for-class", responses=documented_errors(401, 404, 422, 503))
async def for_class(
    user: CurrentUser,
    locations: LocationServiceDep,
    response: Response,
    middle: Annotated[PlainText, Query(description="A middle class of the taxonomy, e.g. 전지")],
    lat: Latitude,
    lon: Longitude,
    radius: Radius = 2_000,
    limit: Limit = 10,
) -> ForClassOut:
    """Where to take something of a taxonomy class: the kinds its guide leads to, nearby. A class
    collected at the door (paper, cans, food) has no kinds and an empty list."""
    found = await locations.for_class(middle, lat, lon, radius, limit)
    response.headers[CACHE_HEADER] = found.answer.cache
    out = NearbyOut.of(found.kinds, radius, found.answer)
    return ForClassOut(**out.model_dump(), middle=found.middle)
