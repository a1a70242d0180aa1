"""The kinds of collection point (`data/kinds.toml`) and the taxonomy classes that lead to them."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlencode

from bunri.errors import BunriError


class UnknownKind(BunriError):
    status_code = 422
    code = "unknown_kind"
    message = "No such kind of collection point."


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    name_en: str
    middles: tuple[str, ...]
    keyword: str


@functools.cache
def all_kinds() -> dict[str, Kind]:
    document = tomllib.loads(
        resources.files("bunri.locations").joinpath("data/kinds.toml").read_text("utf-8")
    )
    kinds = {
        table["code"]: Kind(
            code=table["code"],
            name=table["name"],
            name_en=table["name_en"],
            middles=tuple(table["middles"]),
            keyword=table["keyword"],
        )
        for table in document["kind"]
    }
    if len(kinds) != len(document["kind"]):
        raise ValueError("kinds.toml names a kind twice")
    return kinds


def kind(code: str) -> Kind:
    try:
        return all_kinds()[code]
    except KeyError:
        raise UnknownKind(f"No kind of collection point is called {code!r}.") from None


LOCATIONS_PATH = "/api/v1/locations"


def locations_link(middle: str) -> str | None:
    """Where a guide links for "where to take it" (the app adds lat and lon); None for a class
    collected at the door."""
    if not kinds_for_middle(middle):
        return None
    return f"{LOCATIONS_PATH}/for-class?{urlencode({'middle': middle})}"


def kinds_for_middle(middle: str) -> list[Kind]:
    """The kinds a middle class's guide sends people to; empty when it is collected at the door."""
    return [kind for kind in all_kinds().values() if middle in kind.middles]
