"""bench.location's workload (drawn from a seed, skewed as its docstring says), its keys and the
hour before compressed to them, and its rows in the report; nothing is served or measured here."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from bench import location, report
from bunri.locations.cells import Cell, bucket_for, cell_of
from bunri.locations.kinds import LOCATIONS_PATH, all_kinds, kinds_for_middle
from bunri.locations.points import haversine_m
from tests.bench.test_report import figures, row

SEARCHES = 20_000


@pytest.fixture(scope="module")
def searches() -> list[location.Ask]:
    return list(location.asks(SEARCHES, location.population(2_000, seed=7), seed=7))


def test_the_same_seed_draws_the_same_searches(searches: list[location.Ask]) -> None:
    again = location.asks(SEARCHES, location.population(2_000, seed=7), seed=7)
    assert list(again) == searches
    other = location.asks(SEARCHES, location.population(2_000, seed=8), seed=8)
    assert list(other) != searches


def test_an_hour_is_drawn_in_a_moment() -> None:
    began = time.perf_counter()
    hour = location.asks(720_000, location.population(20_000, seed=1), seed=1)
    assert len(hour) == 720_000
    assert time.perf_counter() - began < 5  # numpy's draws: about 0.3 s here


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


def test_the_keys_are_the_ones_the_server_works_out(searches: list[location.Ask]) -> None:
    drawn = location.asks(SEARCHES, location.population(2_000, seed=7), seed=7)
    rows, codes = drawn.key_codes()
    assert list(rows) == list(range(SEARCHES))  # one kind each here
    for ask, code in zip(searches, codes, strict=True):
        query = parse_qs(urlsplit(ask.target()).query)
        lat, lon = float(query["lat"][0]), float(query["lon"][0])
        assert (lat, lon) == (ask.lat, ask.lon)  # to the microdegree, as sent
        kinds = [ask.kind] if ask.middle is None else [k.code for k in kinds_for_middle(ask.middle)]
        assert ask.keys == tuple(
            (kind, bucket_for(ask.radius_m), cell_of(lat, lon)) for kind in kinds
        )
        assert (location.key_of(int(code)),) == ask.keys


def test_a_class_of_several_kinds_asks_for_each_of_their_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    battery, lamp = location.KINDS.index("battery"), location.KINDS.index("lamp")
    middles = list(location.MIDDLE_KINDS)
    middles[0] = (battery, lamp)  # as if 전지 were lamps' class too
    monkeypatch.setattr(location, "MIDDLE_KINDS", tuple(middles))
    searches = location.Searches(
        person=np.array([0, 1, 2]),
        lat=np.array([37.5665, 37.5665, 35.1796]),
        lon=np.array([126.978, 126.978, 129.0756]),
        kind=np.array([battery, battery, lamp]),
        middle=np.array([-1, 0, -1]),
        radius=np.array([700, 2_000, 5_000]),
    )
    rows, codes = searches.key_codes()
    seoul, busan = cell_of(37.5665, 126.978), cell_of(35.1796, 129.0756)
    assert list(rows) == [0, 1, 1, 2]
    assert [location.key_of(int(code)) for code in codes] == [
        ("battery", 1_000, seoul),
        ("battery", 2_000, seoul),
        ("lamp", 2_000, seoul),
        ("lamp", 5_000, busan),
    ]


def test_the_hour_is_compressed_to_each_keys_first_search() -> None:
    clothes, battery = location.KINDS.index("clothes"), location.KINDS.index("battery")
    here, there = (37.5665, 126.978), (37.5865, 126.978)  # two cells apart
    spots = [here, here, there, here, there, here, there]
    kinds = [clothes, clothes, clothes, battery, clothes, clothes, battery]
    radii = [1_000, 900, 1_000, 1_000, 1_000, 2_000, 1_000]  # 900 m: the 1,000 m bucket
    hour = location.Searches(
        person=np.zeros(len(spots), dtype=np.int64),
        lat=np.array([lat for lat, _ in spots]),
        lon=np.array([lon for _, lon in spots]),
        kind=np.array(kinds),
        middle=np.full(len(spots), -1),
        radius=np.array(radii),
    )
    compressed = location.compress(hour, cold=2)
    assert compressed.searches == 7
    assert list(compressed.cold) == [0, 1]
    # The first two are cold; of the rest, the first search of each key they had not asked for.
    assert list(compressed.replayed) == [2, 3, 5, 6]
    assert len(compressed.keys) == 5
    assert sorted(compressed.asked) == [1, 1, 1, 2, 2]
    assert sum(compressed.asked) == 7
    everything = location.compress(hour, cold=0)
    assert list(everything.replayed) == [0, 2, 3, 5, 6]


def location_figures(**changes: Any) -> dict[str, Any]:
    measured = {
        "rate": 200.0,
        "seconds": 30.0,
        "n": 6000,
        "errors": 0,
        "hit_rate": 0.93,
        "hits": {"n": 5580, "p50": 2.5, "p95": 6.0, "p99": 11.0},
        "misses": {"n": 420, "p50": 30.0, "p95": 400.0, "p99": 480.0},
        "kakao_calls": 150,
        "kakao_without_cache": 3_000,
    } | changes
    return {
        "people": 20_000,
        "hour": {
            "seconds": 3600.0,
            "searches": 720_000,
            "cold": {"n": 2_000, "seconds": 10.0, "hit_rate": 0.2},
            "kakao_calls": 20_000,
            "kakao_without_cache": 360_000,
            "saved_share": 0.944,
        },
        "measured": measured,
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
    rate = row(table, "location cache hit rate, 30 s after 60 min of the same people's searches")
    assert "(720,000, replayed one a key)" in rate[0]
    assert rate[1] == (
        "93.0% (misses: p50 / p99 30.0 ms / 480 ms); cold start (the hour's first 10 s, the "
        "cache empty) 20.0%"
    )
    assert rate[4:] == ["≥ 90%", "met"]
    assert row(table, "location, Kakao searches made / without the cache (the 60 min before")[
        1
    ] == ("20,000 / 360,000 (94% saved); the measured 30 s: 150 for its new keys / 3,000")
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
