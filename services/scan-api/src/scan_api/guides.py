"""The disposal guides: /api/v1/guides (public, the same for everyone, cacheable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from bunri.guides import TaxonomyBody, load_taxonomy
from bunri.locations.kinds import locations_link
from bunri.web.errors import documented_errors

router = APIRouter(prefix="/api/v1/guides", tags=["guides"])

CACHE = "public, max-age=3600"


@router.get("", summary="The waste taxonomy: major, middle and minor classes")
async def taxonomy(response: Response) -> TaxonomyBody:
    response.headers["Cache-Control"] = CACHE
    return load_taxonomy().as_api()


@router.get(
    "/{major}/{middle}",
    summary="How to dispose of one middle class",
    responses=documented_errors(404),
)
async def guide(major: str, middle: str, response: Response) -> dict[str, Any]:
    taxonomy = load_taxonomy()
    found = taxonomy.middle(major, middle)
    response.headers["Cache-Control"] = CACHE
    return {
        "major": major,
        "major_en": taxonomy.major(major).name_en,
        "middle": found.name,
        "middle_en": found.name_en,
        "guide": found.guide.as_api() | {"locations_url": locations_link(found.name)},
        "minors": [{"name": minor.name, "name_en": minor.name_en} for minor in found.minors],
    }
