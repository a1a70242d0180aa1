"""The item search: what people type, matched against every name of the catalogue, ranked
exact > prefix > initials > within a word > one or two wrong keys, each hit saying why.

The index is the catalogue in memory (a few thousand names): a query is one pass over it with
plain string tests, and edit distances (rapidfuzz, in C) only for the names whose length could
be within reach.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import OSA

from bunri.info.catalogue import Name, Target, catalogue
from bunri.info.hangul import has_hangul, is_initials, keystrokes, normalise

EXACT, PREFIX, INITIALS, PARTIAL, TYPO = "exact", "prefix", "initials", "partial", "typo"
_RANK = {EXACT: 0, PREFIX: 1, INITIALS: 2, PARTIAL: 3, TYPO: 4}
MAX_QUERY_CHARS = 50


@dataclass(frozen=True)
class Hit:
    target: Target
    name: str  # the name that matched, as shown
    how: str  # exact, prefix, initials, partial or typo
    distance: int  # wrong keys, for a typo


@dataclass(frozen=True)
class _Match:
    how: str
    distance: int
    name: Name

    @property
    def order(self) -> tuple[int, int, int, int]:
        return (
            _RANK[self.how],
            self.distance,
            self.name.source_rank,
            len(self.name.normalised),
        )


def search(query: str, limit: int = 10) -> list[Hit]:
    """The classes `query` leads to, best first (one hit per class, its best name)."""
    return _search(normalise(query)[:MAX_QUERY_CHARS], limit)


@functools.lru_cache(maxsize=4096)
def _search_cached(normalised: str, limit: int) -> tuple[Hit, ...]:
    return tuple(_rank(normalised, catalogue(), limit))


def _search(normalised: str, limit: int) -> list[Hit]:
    if not normalised:
        return []
    return list(_search_cached(normalised, limit))


def suggest(query: str, limit: int = 10) -> list[str]:
    """Names to complete the search box with: those `query` begins (or spells the initials of)."""
    normalised = normalise(query)[:MAX_QUERY_CHARS]
    if not normalised:
        return []
    keys = keystrokes(normalised)
    initials_only = is_initials(normalised)
    found: list[Name] = []
    for each in catalogue():
        if each.keys.startswith(keys) or (initials_only and each.initials.startswith(normalised)):
            found.append(each)
    found.sort(key=lambda each: (each.source_rank, len(each.normalised), each.normalised))
    names: list[str] = []
    for each in found:
        if each.text not in names:
            names.append(each.text)
        if len(names) == limit:
            break
    return names


def _rank(query: str, names: Sequence[Name], limit: int) -> list[Hit]:
    keys = keystrokes(query)
    initials_only = is_initials(query) and len(query) >= 2
    hangul = has_hangul(query)
    best: dict[Target, _Match] = {}
    for each in names:
        match = _match(query, keys, initials_only, hangul, each)
        if match is None:
            continue
        current = best.get(each.target)
        if current is None or match.order < current.order:
            best[each.target] = match
    if not best:
        return []
    # One hit per middle class (a guide is a middle class's): its best name, with the minor
    # class when that name was a minor's.
    ranked = sorted(best.values(), key=lambda match: (*match.order, match.name.text))
    hits: list[Hit] = []
    seen: set[str] = set()
    for match in ranked:
        target = match.name.target
        if target.middle in seen:
            continue
        seen.add(target.middle)
        hits.append(Hit(target, match.name.text, match.how, match.distance))
        if len(hits) == limit:
            break
    return hits


def _match(query: str, keys: str, initials_only: bool, hangul: bool, each: Name) -> _Match | None:
    if each.normalised == query:
        return _Match(EXACT, 0, each)
    if each.normalised.startswith(query) or (hangul and each.keys.startswith(keys)):
        return _Match(PREFIX, 0, each)
    if initials_only and each.initials.startswith(query):
        return _Match(INITIALS, 0, each)
    if len(query) >= 2 and query in each.normalised:
        return _Match(PARTIAL, 0, each)
    if initials_only:
        return None
    return _typo(query, keys, hangul, each)


def _typo(query: str, keys: str, hangul: bool, each: Name) -> _Match | None:
    """One wrong, missing, extra or swapped key (two in a long word), over the whole name or
    over the part of it typed so far."""
    ours, theirs = (keys, each.keys) if hangul else (query, each.normalised)
    if len(ours) < 3 or hangul != bool(each.initials):
        return None
    allowed = 1 if len(ours) <= 6 else 2
    if len(theirs) < len(ours) - allowed:
        return None
    whole = OSA.distance(ours, theirs, score_cutoff=allowed)
    if whole <= allowed:
        return _Match(TYPO, whole, each)
    typed_so_far = OSA.distance(ours, theirs[: len(ours)], score_cutoff=allowed)
    if typed_so_far <= allowed and len(theirs) > len(ours):
        return _Match(TYPO, typed_so_far + 1, each)
    return None
