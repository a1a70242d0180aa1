"""The taxonomy as immutable values, and the JSON shapes the guide endpoints answer with.

Every text is a Korean/English pair: the app shows Korean first with the English beside it, so the
pair travels together from the data file to the response and can never drift apart in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import TypedDict

from bunri.errors import NotFound


class UnknownClass(NotFound, KeyError):
    """A major or middle class the taxonomy does not have.

    A `KeyError` for callers that look classes up like a mapping, and a 404 when it reaches the web
    layer, so `GET /api/v1/guides/{major}/{middle}` needs no handling of its own.
    """

    code = "unknown_class"
    message = "No such class in the waste taxonomy."

    def __str__(self) -> str:
        # KeyError would print the message quoted, as it does a missing key.
        return self.detail


class GuideBody(TypedDict):
    title: str
    title_en: str
    steps: list[str]
    steps_en: list[str]
    cautions: list[str]
    cautions_en: list[str]
    not_accepted: list[str]
    not_accepted_en: list[str]


class MinorBody(TypedDict):
    name: str
    name_en: str


class MiddleBody(TypedDict):
    name: str
    name_en: str
    minors: list[MinorBody]


class MajorBody(TypedDict):
    name: str
    name_en: str
    summary: str
    summary_en: str
    middles: list[MiddleBody]


class TaxonomyBody(TypedDict):
    majors: list[MajorBody]


@dataclass(frozen=True, slots=True)
class Text:
    ko: str
    en: str


@dataclass(frozen=True, slots=True)
class NotAccepted:
    """Something that looks as if it belongs to a class but does not, and where it goes instead.

    `goes_to` names the middle class that takes it, when one in the taxonomy does (the app can link
    to that guide); it is `None` where the way out lies outside household collection (a shop's
    take-back, say), which the text itself explains.
    """

    ko: str
    en: str
    goes_to: str | None


@dataclass(frozen=True, slots=True)
class Guide:
    title: Text
    steps: tuple[Text, ...]
    cautions: tuple[Text, ...]
    not_accepted: tuple[NotAccepted, ...]

    def as_api(self) -> GuideBody:
        """The `guide` object of a scan result and of `GET /api/v1/guides/{major}/{middle}`."""
        return {
            "title": self.title.ko,
            "title_en": self.title.en,
            "steps": [step.ko for step in self.steps],
            "steps_en": [step.en for step in self.steps],
            "cautions": [caution.ko for caution in self.cautions],
            "cautions_en": [caution.en for caution in self.cautions],
            "not_accepted": [item.ko for item in self.not_accepted],
            "not_accepted_en": [item.en for item in self.not_accepted],
        }


@dataclass(frozen=True, slots=True)
class MinorClass:
    """A concrete item (소분류) and the CLIP prompts that describe how it looks in a photo."""

    name: str
    name_en: str
    prompts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MiddleClass:
    """The level (중분류) a disposal guide belongs to: every item under it goes out the same way."""

    name: str
    name_en: str
    guide: Guide
    minors: tuple[MinorClass, ...]


@dataclass(frozen=True, slots=True)
class MajorClass:
    """One of the six kinds of household waste (대분류) the collection system keeps apart."""

    name: str
    name_en: str
    summary: Text
    middles: tuple[MiddleClass, ...]


@dataclass(frozen=True, slots=True)
class Label:
    """A minor class with the classes above it: one entry of a classifier's label space."""

    major: MajorClass
    middle: MiddleClass
    minor: MinorClass


@dataclass(frozen=True, slots=True)
class Taxonomy:
    majors: tuple[MajorClass, ...]

    def major(self, name: str) -> MajorClass:
        for major in self.majors:
            if major.name == name:
                return major
        known = ", ".join(major.name for major in self.majors)
        raise UnknownClass(f"Unknown major class {name!r}; the major classes are: {known}.")

    def middle(self, major: str, middle: str) -> MiddleClass:
        found = self.major(major)
        for candidate in found.middles:
            if candidate.name == middle:
                return candidate
        known = ", ".join(candidate.name for candidate in found.middles)
        raise UnknownClass(
            f"Unknown middle class {middle!r} under {major!r}; its middle classes are: {known}."
        )

    def minors(self) -> tuple[Label, ...]:
        """Every minor class in data-file order, which stays put as long as the data does.

        A classifier numbers its outputs by this order, so adding a class at the end of a middle
        class still shifts later indices: map outputs back by name, not by a stored index.
        """
        return tuple(
            Label(major, middle, minor)
            for major in self.majors
            for middle in major.middles
            for minor in middle.minors
        )

    def as_api(self) -> TaxonomyBody:
        """The body of `GET /api/v1/guides`: the classes and their names, without the guides."""
        return {
            "majors": [
                {
                    "name": major.name,
                    "name_en": major.name_en,
                    "summary": major.summary.ko,
                    "summary_en": major.summary.en,
                    "middles": [
                        {
                            "name": middle.name,
                            "name_en": middle.name_en,
                            "minors": [
                                {"name": minor.name, "name_en": minor.name_en}
                                for minor in middle.minors
                            ],
                        }
                        for middle in major.middles
                    ],
                }
                for major in self.majors
            ]
        }
