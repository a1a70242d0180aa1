"""info-api's response models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class HitOut(BaseModel):
    major: str
    middle: str
    minor: str | None
    matched: str = Field(description="The name that matched what was typed")
    how: str = Field(description="exact, prefix, initials (초성), partial or typo")
    guide_url: str
    guide: dict[str, Any] = Field(description="As GET /api/v1/guides/{major}/{middle} answers")


class SearchOut(BaseModel):
    query: str
    items: list[HitOut] = Field(description="Best first, one per middle class; empty: no match")


class SuggestOut(BaseModel):
    items: list[str] = Field(description="At most 10 names that complete what was typed")


class ArticleSummaryOut(BaseModel):
    slug: str
    title: str
    title_en: str
    summary: str
    classes: list[str] = Field(description="The middle classes it is about")
    url: str


class ArticlesOut(BaseModel):
    items: list[ArticleSummaryOut]


class ArticleOut(ArticleSummaryOut):
    html: str = Field(description="Rendered from Markdown with no raw HTML: safe to show as is")
    markdown: str
