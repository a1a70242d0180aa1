"""info-api over HTTP (in process): search and suggest with their guides, the guides moved from
scan-api with the same contract, strong ETags and 304s, and every bad query a 422."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from info_api.app import create_app
from info_api.settings import InfoApiSettings
from tests.support.character import error_code


@pytest.fixture
async def info(
    database_url: str, redis_url: str, auth_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = InfoApiSettings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        auth_jwks_url=f"{auth_url}/.well-known/jwks.json",
        log_json=False,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://info") as client:
            yield client


async def test_a_search_answers_classes_with_their_guides(info: httpx.AsyncClient) -> None:
    response = await info.get("/api/v1/info/search", params={"q": "ㄱㅈㅈ"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    first = body["items"][0]
    assert (first["middle"], first["minor"], first["how"]) == ("전지", "건전지", "initials")
    assert first["guide"]["middle"] == "전지"
    assert first["guide"]["guide"]["steps"]
    guide = await info.get(first["guide_url"])
    assert guide.status_code == 200
    assert guide.json() == first["guide"]


async def test_answers_carry_a_strong_etag_and_304_when_it_is_named(
    info: httpx.AsyncClient,
) -> None:
    for path, params in [
        ("/api/v1/info/search", {"q": "배터리"}),
        ("/api/v1/info/suggest", {"q": "스티"}),
        ("/api/v1/guides", {}),
        ("/api/v1/guides/재활용폐기물/전지", {}),
    ]:
        first = await info.get(path, params=params)
        assert first.status_code == 200, (path, first.text)
        etag = first.headers["etag"]
        assert etag.startswith('"')  # strong: not W/
        assert "stale-while-revalidate=" in first.headers["cache-control"]
        assert first.headers["cache-control"].startswith("public")
        again = await info.get(path, params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        other = await info.get(path, params=params, headers={"If-None-Match": '"stale"'})
        assert other.status_code == 200


async def test_unknown_words_are_an_empty_list(info: httpx.AsyncClient) -> None:
    response = await info.get("/api/v1/info/search", params={"q": "우주선"})
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "validation_error"),
        ({"q": ""}, "validation_error"),
        ({"q": "가" * 51}, "validation_error"),
        ({"q": "배터\x00리"}, "invalid_text"),
        ({"q": "배터리", "limit": 0}, "validation_error"),
    ],
)
async def test_bad_queries_are_422(
    info: httpx.AsyncClient, params: dict[str, str | int], code: str
) -> None:
    for path in ("/api/v1/info/search", "/api/v1/info/suggest"):
        if path.endswith("suggest") and "limit" in params:
            continue
        assert error_code(await info.get(path, params=params), 422) == code


async def test_an_unknown_guide_is_404(info: httpx.AsyncClient) -> None:
    response = await info.get("/api/v1/guides/재활용폐기물/우주선")
    assert error_code(response, 404) == "unknown_class"


async def test_articles_are_listed_read_as_safe_html_and_linked_from_guides(
    info: httpx.AsyncClient,
) -> None:
    listed = await info.get("/api/v1/info/articles")
    assert listed.status_code == 200
    slugs = {item["slug"] for item in listed.json()["items"]}
    assert {"why-rinse", "volume-rate-bags", "clear-pet-vs-plastics"} <= slugs

    article = await info.get("/api/v1/info/articles/clear-pet-vs-plastics")
    assert article.status_code == 200, article.text
    body = article.json()
    assert "<strong>섬유나 새 페트병</strong>" in body["html"]
    assert "무색페트병" in body["classes"]
    again = await info.get(
        "/api/v1/info/articles/clear-pet-vs-plastics",
        headers={"If-None-Match": article.headers["etag"]},
    )
    assert again.status_code == 304

    guide = (await info.get("/api/v1/guides/재활용폐기물/무색페트병")).json()
    assert "/api/v1/info/articles/clear-pet-vs-plastics" in [a["url"] for a in guide["articles"]]


@pytest.mark.parametrize(("slug", "status"), [("no-such-thing", 404), ("Bad_Slug!", 422)])
async def test_an_unknown_or_malformed_article_name(
    info: httpx.AsyncClient, slug: str, status: int
) -> None:
    response = await info.get(f"/api/v1/info/articles/{slug}")
    code = error_code(response, status)
    assert code == ("unknown_article" if status == 404 else "validation_error")


def test_an_articles_markdown_cannot_carry_html_or_script_links() -> None:
    from bunri.info.articles import render

    html = render("<script>alert(1)</script> [x](javascript:alert(1)) ![i](http://x/i.png)")
    assert "<script" not in html
    assert 'href="javascript' not in html
    assert "<img" not in html
