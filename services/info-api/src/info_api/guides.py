"""The disposal guides: /api/v1/guides (public, the same for everyone, cacheable)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from bunri.guides import TaxonomyBody, load_taxonomy
from bunri.info.articles import articles_about
from bunri.locations.kinds import locations_link
from bunri.web.errors import documented_errors
from info_api.caching import ETAG_HEADER, NOT_MODIFIED
from info_api.deps import CachePolicyDep

GUIDES_PATH = "/api/v1/guides"
router = APIRouter(prefix=GUIDES_PATH, tags=["guides"])


@router.get(
    "",
    summary="The waste taxonomy: major, middle and minor classes",
    response_class=Response,
    responses={200: {"model": TaxonomyBody, "headers": ETAG_HEADER}, **NOT_MODIFIED},
)
async def taxonomy(request: Request, cache: CachePolicyDep) -> Response:
    return cache.answer(request, load_taxonomy().as_api())


@router.get(
    "/{major}/{middle}",
    summary="How to dispose of one middle class",
    response_class=Response,
    responses={200: {"headers": ETAG_HEADER}, **NOT_MODIFIED, **documented_errors(404)},
)
async def guide(major: str, middle: str, request: Request, cache: CachePolicyDep) -> Response:
    return cache.answer(request, guide_body(major, middle))


def guide_body(major: str, middle: str) -> dict[str, Any]:
    """A middle class's guide, as this route and every search hit carry it."""
    taxonomy = load_taxonomy()
    found = taxonomy.middle(major, middle)
    return {
        "major": major,
        "major_en": taxonomy.major(major).name_en,
        "middle": found.name,
        "middle_en": found.name_en,
        "guide": found.guide.as_api() | {"locations_url": locations_link(found.name)},
        "minors": [{"name": minor.name, "name_en": minor.name_en} for minor in found.minors],
        "articles": [
            {"slug": each.slug, "title": each.title, "url": each.url}
            for each in articles_about(found.name)
        ],
    }
