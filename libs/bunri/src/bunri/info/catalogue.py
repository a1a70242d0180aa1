"""Every name a thing can be searched by, and the class it leads to: the taxonomy's own names
(Korean and English), the everyday names of `guides/data/synonyms.toml`, and the things the
guides' "not accepted" lines send elsewhere (영수증 → 일반쓰레기)."""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from bunri.guides.loader import load_taxonomy
from bunri.guides.model import Taxonomy
from bunri.info.hangul import initials, keystrokes, normalise

# Where a name came from, most trusted first: ties between classes are broken in this order.
CLASS, EVERYDAY, NOT_ACCEPTED = "class", "everyday", "not_accepted"
_SOURCE_RANK = {CLASS: 0, EVERYDAY: 1, NOT_ACCEPTED: 2}
_PARENTHESISED = re.compile(r"\([^)]*\)")
# A "not accepted" part longer than this is a description (간장 등을 담았던 투명한 병), not a name.
MAX_THING_CHARS = 8


@dataclass(frozen=True)
class Target:
    major: str
    middle: str
    minor: str | None


@dataclass(frozen=True)
class Name:
    text: str  # as it is shown
    target: Target
    source: str
    normalised: str
    keys: str
    initials: str

    @property
    def source_rank(self) -> int:
        return _SOURCE_RANK[self.source]


def name(text: str, target: Target, source: str) -> Name:
    normalised = normalise(text)
    return Name(text, target, source, normalised, keystrokes(normalised), initials(normalised))


@functools.cache
def catalogue() -> tuple[Name, ...]:
    taxonomy = load_taxonomy()
    names = [*_class_names(taxonomy), *_everyday_names(taxonomy), *_not_accepted_names(taxonomy)]
    seen: set[tuple[str, Target]] = set()
    unique = []
    for each in names:
        if each.normalised and (each.normalised, each.target) not in seen:
            seen.add((each.normalised, each.target))
            unique.append(each)
    return tuple(unique)


def _class_names(taxonomy: Taxonomy) -> list[Name]:
    names = []
    for major in taxonomy.majors:
        for middle in major.middles:
            whole = Target(major.name, middle.name, None)
            names += [name(middle.name, whole, CLASS), name(middle.name_en, whole, CLASS)]
            for minor in middle.minors:
                target = Target(major.name, middle.name, minor.name)
                names += [name(minor.name, target, CLASS), name(minor.name_en, target, CLASS)]
                # 책·노트 is searched as 책 and as 노트 too.
                names += [name(part, target, CLASS) for part in minor.name.split("·")[1:]]
                names += [name(minor.name.split("·")[0], target, CLASS)]
    return names


def _everyday_names(taxonomy: Taxonomy) -> list[Name]:
    path = resources.files("bunri.guides").joinpath("data/synonyms.toml")
    if not path.is_file():
        return []
    majors = {middle.name: major.name for major in taxonomy.majors for middle in major.middles}
    names = []
    for item in tomllib.loads(path.read_text("utf-8")).get("item", []):
        middle = item["middle"]
        target = Target(majors[middle], middle, item.get("minor"))
        names.append(name(item["name"], target, EVERYDAY))
    return names


def _not_accepted_names(taxonomy: Taxonomy) -> list[Name]:
    """'영수증·택배 송장 같은 감열지 → 일반쓰레기' names 영수증, 택배 송장 and 감열지."""
    majors = {middle.name: major.name for major in taxonomy.majors for middle in major.middles}
    names = []
    for major in taxonomy.majors:
        for middle in major.middles:
            for line in middle.guide.not_accepted:
                if line.goes_to is None:
                    continue
                target = Target(majors[line.goes_to], line.goes_to, None)
                things = _PARENTHESISED.sub("", line.ko.split("→")[0]).strip()
                examples, _, kind = things.rpartition(" 같은 ")
                parts = [*examples.split("·"), kind] if examples else things.split("·")
                names += [
                    name(part.strip(), target, NOT_ACCEPTED)
                    for part in parts
                    if len(normalise(part)) <= MAX_THING_CHARS
                ]
    return names
