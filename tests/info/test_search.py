"""The item search as people type: a table of queries (tests/info/queries.toml) with the class
each must return first, and words that must return nothing."""

from __future__ import annotations

import tomllib
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from bunri.info.hangul import initials, is_initials, keystrokes, normalise
from bunri.info.search import search, suggest

TABLE = tomllib.loads((Path(__file__).parent / "queries.toml").read_text("utf-8"))
QUERIES = TABLE["query"]
REQUIRED_SHARE = 0.95


def first_middle(query: str) -> str | None:
    hits = search(query, limit=1)
    return hits[0].target.middle if hits else None


def test_the_table_is_big_enough_and_covers_every_way_of_typing() -> None:
    kinds = Counter(entry["kind"] for entry in QUERIES)
    assert len(QUERIES) >= 150
    assert set(kinds) >= {"exact", "partial", "spacing", "initials", "typos", "english"}
    assert len(TABLE["unknown"]) >= 15


def test_at_least_95_percent_of_the_table_finds_its_class_first() -> None:
    wrong = [
        (entry["q"], entry["kind"], entry["middle"], first_middle(entry["q"]))
        for entry in QUERIES
        if first_middle(entry["q"]) != entry["middle"]
    ]
    share = 1 - len(wrong) / len(QUERIES)
    assert share >= REQUIRED_SHARE, f"{share:.1%} right; wrong: {wrong}"


@pytest.mark.parametrize("query", [entry["q"] for entry in TABLE["unknown"]])
def test_unknown_words_find_nothing_rather_than_a_guess(query: str) -> None:
    assert search(query) == []


def test_every_hit_says_why_it_matched() -> None:
    (hit,) = search("ㄱㅈㅈ", limit=1)
    assert (hit.target.middle, hit.name, hit.how) == ("전지", "건전지", "initials")
    (hit,) = search("건전쥐", limit=1)
    assert (hit.how, hit.distance) == ("typo", 1)


@pytest.mark.parametrize(
    "odd",
    [
        unicodedata.normalize("NFD", "건전지"),  # decomposed syllables
        "\uff42\uff41\uff54\uff54\uff45\uff52\uff59",  # full-width "battery"
        "\u1100\u1161",  # conjoining jamo
        "건전지\u200b",  # an invisible character
        "",
        " " * 10,
        "가" * 500,
        "🙂🙂",
    ],
)
def test_odd_unicode_is_normalised_never_an_error(odd: str) -> None:
    search(odd)
    suggest(odd)


def test_keystrokes_and_initials() -> None:
    assert keystrokes(normalise("배터리")) == "ㅂㅐㅌㅓㄹㅣ"
    assert keystrokes(normalise("왜")) == "ㅇㅗㅐ"
    assert initials(normalise("배터리")) == "ㅂㅌㄹ"
    assert is_initials(normalise("ㅂㅌㄹ"))
    assert normalise(unicodedata.normalize("NFD", "배터리")) == "배터리"
    assert normalise("Pizza-Box!") == "pizzabox"


def test_suggestions_complete_what_is_typed() -> None:
    assert "건전지" in suggest("건전")
    assert "건전지" in suggest("ㄱㅈ")
    assert len(suggest("ㅅ")) == 10
