"""bench.location's workload (drawn from a seed, skewed as its docstring says) and its rows in the
report; nothing is served or measured here."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bench import location, report
from bunri.locations.cells import Cell, cell_of
from bunri.locations.kinds import LOCATIONS_PATH, all_kinds, kinds_for_middle
from bunri.locations.nearby import PROVIDER_FRESH_SECONDS
from bunri.locations.points import haversine_m
from tests.bench.test_report import figures, row

SEARCHES = 20_000


@pytest.fixture(scope="module")
def searches() -> list[location.Ask]:
    return location.asks(SEARCHES, location.population(2_000, seed=7), seed=7)


def test_the_same_seed_draws_the_same_searches(searches: list[location.Ask]) -> None:
    again = location.asks(SEARCHES, location.population(2_000, seed=7), seed=7)
    assert again == searches
    other = location.asks(SEARCHES, location.population(2_000, seed=8), seed=8)
    assert other != searches


def test_kinds_are_skewed_as_documented(searches: list[location.Ask]) -> None:
    kinds = Counter(ask.kind for ask in searches)
    assert set(location.KIND_SHARES) == set(all_kinds())
    for kind, share in location.KIND_SHARES.items():
        assert kinds[kind] / SEARCHES == pytest.approx(share, abs=0.015), kind
    assert kinds.most_common(1)[0][0] == "battery"


def test_a_quarter_go_through_a_class_of_the_kind(searches: list[location.Ask]) -> None:
    through_class = [ask for ask in searches if ask.middle is not None]
    assert len(through_class) / SEARCHES == pytest.approx(location.FOR_CLASS, abs=0.015)
    for ask in through_class:
        assert ask.middle is not None
        assert [kind.code for kind in kinds_for_middle(ask.middle)] == [ask.kind]
        assert ask.radius_m == location.FOR_CLASS_RADIUS_M
        target = urlsplit(ask.target())
        assert target.path == f"{LOCATIONS_PATH}/for-class"
        assert parse_qs(target.query)["middle"] == [ask.middle]
        assert "radius" not in parse_qs(target.query)  # the guide's link names none
    assert {"전지", "의류및원단", "폐의약품", "조명제품"} <= {ask.middle for ask in through_class}


def test_radii_are_mostly_the_default(searches: list[location.Ask]) -> None:
    nearby = [ask for ask in searches if ask.middle is None]
    radii = Counter(ask.radius_m for ask in nearby)
    for radius, share in location.RADIUS_SHARES.items():
        assert radii[radius] / len(nearby) == pytest.approx(share, abs=0.02), radius
    query = parse_qs(urlsplit(nearby[0].target()).query)
    assert query["kind"] == [nearby[0].kind]
    assert query["radius"] == [str(nearby[0].radius_m)]


def test_people_are_in_the_cities_by_population(searches: list[location.Ask]) -> None:
    def nearest(ask: location.Ask) -> location.City:
        return min(
            location.CITIES, key=lambda city: haversine_m(ask.lat, ask.lon, city.lat, city.lon)
        )

    cities = Counter(nearest(ask).name for ask in searches)
    total = sum(city.population_m for city in location.CITIES)
    seoul = location.CITIES[0]
    assert cities[seoul.name] / SEARCHES == pytest.approx(seoul.population_m / total, abs=0.05)
    assert all(
        haversine_m(ask.lat, ask.lon, nearest(ask).lat, nearest(ask).lon) < 30_000
        for ask in searches
    )


def test_people_ask_again_about_the_same_spot() -> None:
    people = location.population(50, seed=3)
    searches = location.asks(2_000, people, seed=3)
    cells: dict[int, set[Cell]] = defaultdict(set)
    for ask in searches:
        cells[ask.person].add(cell_of(ask.lat, ask.lon))
    # Home and work, give or take a neighbouring cell for a spot near a cell's edge.
    assert max(len(spots) for spots in cells.values()) <= 6
    assert sum(len(spots) for spots in cells.values()) / len(cells) < 3


def test_the_replay_builds_an_entry_once_until_it_is_past_its_freshness() -> None:
    ours = location.Ask(-1, 37.5665, 126.9780, "clothes", None, 1_000)
    theirs = location.Ask(-1, 37.5665, 126.9780, "recycling_centre", None, 1_000)
    needs = {ours.key: False, theirs.key: True}
    searches = [theirs, ours, theirs, ours, theirs]
    assert location.replay(searches, 1.0, needs, 5) == location.Replay(5, 3, 1, 3)
    assert location.replay(searches, 1.0, needs, 2) == location.Replay(2, 2, 0, 1)
    # 40 minutes apart: the third search for Kakao's places finds them past their freshness,
    # is answered stale from the cache, and has them built again.
    slow = 1.5 / PROVIDER_FRESH_SECONDS
    assert location.replay([theirs, theirs, theirs, ours, ours], slow, needs, 5) == (
        location.Replay(5, 3, 2, 3)
    )
    assert location.Replay(5, 3, 2, 3).saved_share == pytest.approx(1 / 3)


def location_figures(**changes: Any) -> dict[str, Any]:
    measured = {
        "rate": 200.0,
        "seconds": 30.0,
        "n": 6000,
        "errors": 0,
        "hit_rate": 0.93,
        "hits": {"n": 5580, "p50": 2.5, "p95": 6.0, "p99": 11.0},
        "misses": {"n": 420, "p50": 30.0, "p95": 400.0, "p99": 480.0},
    } | changes
    return {
        "people": 20_000,
        "warm": {"n": 12_000},
        "measured": measured,
        "kakao": {"calls": 2_000, "without_cache": 8_000, "saved_share": 0.75},
        "projection": {"hours": 1.0, "hit_rate": 0.97, "saved_share": 0.9},
    }


def test_the_location_rows() -> None:
    with_location = figures() | {"location": location_figures()}
    table = report.markdown_table(with_location)
    assert row(table, "location search p50/p99 on cache hits at 200/s (20,000 people")[1:] == [
        "2.5 ms / 11.0 ms",
        "—",
        "—",
        "p99 ≤ 15 ms",
        "met",
    ]
    rate = row(table, "location cache hit rate, 30 s after 12,000 searches")
    assert rate[1] == (
        "93.0% (misses: p50 / p99 30.0 ms / 480 ms); 97.0% replayed for a cache 1 h old"
    )
    assert rate[4:] == ["≥ 90%", "met"]
    assert row(table, "location, Kakao searches")[1] == (
        "2,000 / 8,000 (75% saved); 90% saved replayed for a cache 1 h old"
    )
    missed = figures() | {"location": location_figures(hit_rate=0.7, errors=2)}
    table = report.markdown_table(missed)
    assert row(table, "location cache hit rate")[5] == "**missed**"
    hits = row(table, "location search")
    assert hits[1].endswith("(2 failed or timed out)")
    assert hits[5] == "**missed**"
    assert "location" not in report.markdown_table(figures())


def test_location_rows_measured_on_their_own_say_so() -> None:
    separate = figures() | {
        "location": location_figures() | {"finished": "2026-12-08 09:00 UTC", "commit": "abc9"}
    }
    assert "`make bench-location`, 2026-12-08 09:00 UTC, commit abc9" in report.summary(separate)
    assert "bench-location" not in report.summary(figures() | {"location": location_figures()})
