"""Short articles shipped with the code (`info/articles/*.md`): TOML front matter between `+++`
lines (title, title_en, summary, the middle classes it is about), then Markdown, rendered to
HTML without any raw HTML of its own, so the page is safe to show as is."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from markdown_it import MarkdownIt

from bunri.errors import NotFound
from bunri.guides.loader import load_taxonomy

ARTICLES_PATH = "/api/v1/info/articles"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FRONT_MATTER = re.compile(r"\A\+\+\+\n(?P<meta>.*?)\n\+\+\+\n(?P<body>.*)\Z", re.DOTALL)
# CommonMark with raw HTML and images off: a `<script>` in an article is shown as text, and links
# keep markdown-it's refusal of javascript:, vbscript:, file: and data: URLs.
_RENDERER = MarkdownIt("commonmark", {"html": False}).disable("image")


class UnknownArticle(NotFound):
    code = "unknown_article"
    message = "No article has this name."


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    title_en: str
    summary: str
    classes: tuple[str, ...]
    markdown: str
    html: str

    @property
    def url(self) -> str:
        return f"{ARTICLES_PATH}/{self.slug}"


def render(markdown: str) -> str:
    html: str = _RENDERER.render(markdown)
    return html


@functools.cache
def all_articles() -> dict[str, Article]:
    """Every article by slug, in title order; a malformed one stops the service at start."""
    middles = {middle.name for major in load_taxonomy().majors for middle in major.middles}
    found = []
    for entry in resources.files("bunri.info").joinpath("articles").iterdir():
        if entry.name.endswith(".md"):
            found.append(_read(entry.name.removesuffix(".md"), entry.read_text("utf-8"), middles))
    return {article.slug: article for article in sorted(found, key=lambda a: a.title)}


def article(slug: str) -> Article:
    try:
        return all_articles()[slug]
    except KeyError:
        raise UnknownArticle(f"No article is called {slug!r}.") from None


def articles_about(middle: str) -> list[Article]:
    return [each for each in all_articles().values() if middle in each.classes]


def _read(slug: str, text: str, middles: set[str]) -> Article:
    if not SLUG.match(slug):
        raise ValueError(f"article {slug!r}: a file name must be a slug (a-z, 0-9, -)")
    matched = _FRONT_MATTER.match(text)
    if matched is None:
        raise ValueError(f"article {slug!r}: no +++ front matter")
    meta = tomllib.loads(matched["meta"])
    classes = tuple(meta["classes"])
    unknown = set(classes) - middles
    if unknown:
        raise ValueError(f"article {slug!r}: no such middle classes {sorted(unknown)}")
    body = matched["body"].strip() + "\n"
    return Article(
        slug=slug,
        title=meta["title"],
        title_en=meta["title_en"],
        summary=meta["summary"],
        classes=classes,
        markdown=body,
        html=render(body),
    )
