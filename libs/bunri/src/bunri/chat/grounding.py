"""Which disposal guides a question is about: the class of the person's scan when one is named,
else the classes whose names (Korean or English, any level) the question mentions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from bunri.guides import Guide, MajorClass, MiddleClass, Taxonomy, load_taxonomy

MAX_SOURCES = 2
_WORD = re.compile(r"[\w가-힣]+")


@dataclass(frozen=True, slots=True)
class Source:
    major: MajorClass
    middle: MiddleClass

    @property
    def guide(self) -> Guide:
        return self.middle.guide

    def as_api(self) -> dict[str, Any]:
        """What `done` carries in `sources` (and the answer cites)."""
        return {
            "major": self.major.name,
            "middle": self.middle.name,
            "title": self.guide.title.ko,
            "title_en": self.guide.title.en,
        }


class GuideIndex:
    def __init__(self, taxonomy: Taxonomy) -> None:
        self._taxonomy = taxonomy
        self._terms: list[tuple[Source, frozenset[str], tuple[str, ...]]] = []
        for major in taxonomy.majors:
            for middle in major.middles:
                names = [middle.name, middle.name_en, *(m.name for m in middle.minors)]
                names += [minor.name_en for minor in middle.minors]
                words = frozenset(_words(" ".join(names)))
                self._terms.append((Source(major, middle), words, tuple(n.lower() for n in names)))

    def for_class(self, major: str, middle: str) -> Source:
        major_class = self._taxonomy.major(major)
        return Source(major_class, self._taxonomy.middle(major, middle))

    def for_result(self, result: dict[str, Any] | None) -> Source | None:
        """The guide of a scan's result (None without one, or for a class no longer known)."""
        classification = (result or {}).get("classification") or {}
        try:
            return self.for_class(classification["major"], classification["middle"])
        except (KeyError, LookupError):
            return None

    def search(self, question: str, limit: int = MAX_SOURCES) -> list[Source]:
        """Guides whose class names the question mentions, best first: a whole name in the
        question counts most, then a word of the question inside a name (페트병 in 무색페트병),
        then a shared word. Korean particles are stripped first (페트병은 → 페트병)."""
        text = question.lower()
        stems = {_stem(word) for word in _words(text)} - {""}
        scored = []
        for source, terms, names in self._terms:
            score = 3 * sum(1 for name in names if len(name) >= 2 and name in text)
            score += 2 * sum(1 for stem in stems if any(stem in name for name in names))
            score += len(stems & terms)
            if score:
                scored.append((score, source))
        scored.sort(key=lambda item: item[0], reverse=True)
        return [source for _, source in scored[:limit]]


# Particles and endings that follow a noun with no space between (longest first).
_PARTICLES = (
    "으로는",
    "에서는",
    "으로",
    "에서",
    "은요",
    "는요",
    "이요",
    "에는",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "에",
    "의",
    "도",
    "로",
    "과",
    "와",
    "요",
)


def _stem(word: str) -> str:
    """The word without a trailing particle, if at least two characters are left."""
    for particle in _PARTICLES:
        if word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word if len(word) >= 2 else ""


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.lower()) if len(word) >= 2]


@cache
def guide_index() -> GuideIndex:
    return GuideIndex(load_taxonomy())


def answer_topics(sources: list[dict[str, Any]] | None) -> list[str]:
    """What an answer was about (its guides' middle classes), as `chat.answered` tells it."""
    return sorted({str(source["middle"]) for source in sources or () if source.get("middle")})
