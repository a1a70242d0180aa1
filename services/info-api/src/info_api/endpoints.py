"""Finding any item's rule by typing its name: /api/v1/info (DESIGN.md section 10)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response

from bunri.info.articles import SLUG, Article, all_articles, article
from bunri.info.search import MAX_QUERY_CHARS, search, suggest
from bunri.web.errors import documented_errors
from bunri.web.text import PlainText
from info_api.caching import ETAG_HEADER, NOT_MODIFIED
from info_api.deps import CachePolicyDep
from info_api.guides import GUIDES_PATH, guide_body
from info_api.schemas import (
    ArticleOut,
    ArticlesOut,
    ArticleSummaryOut,
    HitOut,
    SearchOut,
    SuggestOut,
)

INFO_PATH = "/api/v1/info"
router = APIRouter(prefix=INFO_PATH, tags=["info"])

Typed = Annotated[
    PlainText,
    Query(min_length=1, max_length=MAX_QUERY_CHARS, description="What was typed, as typed"),
]


@router.get(
    "/search",
    response_class=Response,
    responses={
        200: {"model": SearchOut, "headers": ETAG_HEADER},
        **NOT_MODIFIED,
        **documented_errors(422),
    },
)
async def search_items(
    request: Request,
    cache: CachePolicyDep,
    q: Typed,
    limit: Annotated[int, Query(ge=1, le=20)] = 10,
) -> Response:
    """The classes a name leads to, best first, each with its guide and why it matched: exact,
    prefix, initial consonants (ㅂㅌㄹ), a syllable still being typed, a word without its spaces,
    or one or two wrong keys. A word that is no waste the guides know gives an empty list."""
    items = [
        HitOut(
            major=hit.target.major,
            middle=hit.target.middle,
            minor=hit.target.minor,
            matched=hit.name,
            how=hit.how,
            guide_url=f"{GUIDES_PATH}/{quote(hit.target.major)}/{quote(hit.target.middle)}",
            guide=guide_body(hit.target.major, hit.target.middle),
        )
        for hit in search(q, limit)
    ]
    return cache.answer(request, SearchOut(query=q, items=items).model_dump(mode="json"))


@router.get(
    "/suggest",
    response_class=Response,
    responses={
        200: {"model": SuggestOut, "headers": ETAG_HEADER},
        **NOT_MODIFIED,
        **documented_errors(422),
    },
)
async def suggest_names(request: Request, cache: CachePolicyDep, q: Typed) -> Response:
    """Names that complete what is being typed in the search box, at most 10."""
    return cache.answer(request, SuggestOut(items=suggest(q)).model_dump(mode="json"))


@router.get(
    "/articles",
    response_class=Response,
    responses={200: {"model": ArticlesOut, "headers": ETAG_HEADER}, **NOT_MODIFIED},
)
async def list_articles(request: Request, cache: CachePolicyDep) -> Response:
    """Short articles (what 종량제봉투 is, why rinse...), each with the classes it is about."""
    items = [_summary(each) for each in all_articles().values()]
    return cache.answer(request, ArticlesOut(items=items).model_dump(mode="json"))


@router.get(
    "/articles/{slug}",
    response_class=Response,
    responses={
        200: {"model": ArticleOut, "headers": ETAG_HEADER},
        **NOT_MODIFIED,
        **documented_errors(404, 422),
    },
)
async def read_article(
    request: Request,
    cache: CachePolicyDep,
    slug: Annotated[str, Path(max_length=64, pattern=SLUG.pattern)],
) -> Response:
    """One article, as safe HTML and as its Markdown."""
    found = article(slug)
    out = ArticleOut(**_summary(found).model_dump(), html=found.html, markdown=found.markdown)
    return cache.answer(request, out.model_dump(mode="json"))


def _summary(found: Article) -> ArticleSummaryOut:
    return ArticleSummaryOut(
        slug=found.slug,
        title=found.title,
        title_en=found.title_en,
        summary=found.summary,
        classes=list(found.classes),
        url=found.url,
    )
