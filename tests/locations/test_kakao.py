"""The live map provider against a fake Kakao Local over real HTTP, and its circuit breaker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from bunri.locations import kakao as kakao_module
from bunri.locations.breaker import BreakerState, CircuitBreaker
from bunri.locations.kakao import KakaoLocal, ProviderUnavailable
from bunri.locations.kinds import kind
from bunri.locations.points import haversine_m
from tests.support.fake_kakao import FakeKakao, fake_kakao
from tests.support.servers import free_port

BATTERY = kind("battery")
CITY_HALL = (37.5665, 126.9780)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append(("warning", event, fields))

    def error(self, event: str, **fields: Any) -> None:
        self.lines.append(("error", event, fields))


def provider_calls(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "bunri_location_provider_calls_total", {"provider": "kakao", "outcome": outcome}
    )
    return value or 0.0


def provider_timings() -> float:
    value = REGISTRY.get_sample_value(
        "bunri_location_provider_seconds_count", {"provider": "kakao"}
    )
    return value or 0.0


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read afresh: mypy would otherwise hold `breaker.state` to what an earlier assert said."""
    return breaker.state


async def raw_search(fake: FakeKakao, **params: Any) -> httpx.Response:
    """A keyword search straight to the fake, as Kakao's client would send it."""
    async with httpx.AsyncClient() as client:
        return await client.get(
            f"{fake.url}/v2/local/search/keyword.json",
            params={"query": "x", "x": CITY_HALL[1], "y": CITY_HALL[0], **params},
            headers={"Authorization": f"KakaoAK {fake.api_key}"},
        )


@pytest.fixture
def fake() -> Iterator[FakeKakao]:
    with fake_kakao() as fake:
        yield fake


@pytest.fixture
def recorded_log(monkeypatch: pytest.MonkeyPatch) -> RecordedLog:
    recorded = RecordedLog()
    monkeypatch.setattr(kakao_module, "log", recorded)
    return recorded


@pytest.fixture
async def provider(fake: FakeKakao) -> AsyncIterator[KakaoLocal]:
    provider = KakaoLocal(fake.api_key, base_url=fake.url, timeout_seconds=1.0, retries=2)
    yield provider
    await provider.aclose()


# The mapping


async def test_places_come_back_as_nearby_points_nearest_first(
    fake: FakeKakao, provider: KakaoLocal
) -> None:
    fake.places = 8
    ok_before = provider_calls("ok")
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)

    assert len(points) == 8
    assert [p.distance_m for p in points] == sorted(p.distance_m for p in points)
    assert {p.name for p in points} == {f"{BATTERY.keyword} {n}호" for n in range(1, 9)}
    for point in points:
        assert point.id.startswith("kakao:")
        assert (point.source, point.kind, point.opening_notes) == ("kakao", "battery", None)
        assert point.distance_m <= 1_000
        # Kakao's distance is whole metres, measured from the point asked about.
        assert abs(point.distance_m - haversine_m(*CITY_HALL, point.lat, point.lon)) <= 1
        n = int(point.name.split()[-1].removesuffix("호"))
        # A place without a road-name address is given its land-lot one.
        expected = f"서울 중구 태평로1가 {n}" if n % 3 == 0 else f"서울 중구 세종대로 {100 + n}"
        assert point.address == expected

    assert fake.calls == 1
    assert fake.requests[0] == {
        "query": BATTERY.keyword,
        "x": str(CITY_HALL[1]),
        "y": str(CITY_HALL[0]),
        "radius": "1000",
        "sort": "distance",
        "size": "15",
    }
    assert provider_calls("ok") == ok_before + 1

    # The same places for a point a few metres off: the ids are stable.
    again = await provider.search(BATTERY, CITY_HALL[0] + 0.00001, CITY_HALL[1], radius_m=1_000)
    assert {p.id for p in again} == {p.id for p in points}


async def test_places_beyond_the_radius_are_dropped(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.places, fake.outside_radius = 5, 3
    answered = (await raw_search(fake, radius=500)).json()
    assert len(answered["documents"]) == 8

    points = await provider.search(BATTERY, *CITY_HALL, radius_m=500)
    assert len(points) == 5
    assert all(p.distance_m <= 500 for p in points)


async def test_the_radius_is_clamped_to_kakaos_maximum(
    fake: FakeKakao, provider: KakaoLocal
) -> None:
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=50_000)
    assert fake.requests[-1]["radius"] == "20000"
    assert len(points) == fake.places

    # Kakao refuses more, and so does the fake.
    refused = await raw_search(fake, radius=20_001)
    assert refused.status_code == 400
    assert refused.json()["errorType"] == "InvalidArgument"


async def test_more_than_a_page_is_fetched_as_two(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.places = 20
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=2_000, limit=20)

    assert len(points) == len({p.id for p in points}) == 20
    assert [p.distance_m for p in points] == sorted(p.distance_m for p in points)
    assert fake.calls == 2
    assert [r.get("page") for r in fake.requests] == [None, "2"]
    assert {r["size"] for r in fake.requests} == {"15"}


async def test_a_small_limit_asks_for_a_small_page(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.places = 20
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=2_000, limit=10)
    assert len(points) == 10
    assert fake.calls == 1
    assert fake.requests[0]["size"] == "10"


async def test_no_second_page_when_the_first_is_the_end(
    fake: FakeKakao, provider: KakaoLocal
) -> None:
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=2_000, limit=30)
    assert len(points) == fake.places == 6
    assert fake.calls == 1


# Failures


async def test_a_bad_key_fails_at_once_and_is_logged_without_the_key(
    fake: FakeKakao, recorded_log: RecordedLog
) -> None:
    provider = KakaoLocal("not-the-key", base_url=fake.url, retries=2)
    errors_before = provider_calls("error")
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    await provider.aclose()

    assert caught.value.reason == "error"
    assert fake.calls == 1
    assert provider_calls("error") == errors_before + 1
    levels = [(level, event, fields.get("status")) for level, event, fields in recorded_log.lines]
    assert levels == [("error", "kakao refused the request", 401)]
    assert "not-the-key" not in repr(recorded_log.lines)


async def test_a_500_is_retried(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.fail_next = 1
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert len(points) == fake.places
    assert fake.calls == 2
    assert state(provider.breaker) is BreakerState.CLOSED


async def test_500s_give_up_after_the_retries(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.fail_next = 100
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert caught.value.reason == "error"
    assert fake.calls == 3  # retries + 1


async def test_rate_limited_is_not_retried(fake: FakeKakao, provider: KakaoLocal) -> None:
    fake.rate_limited = True
    limited_before = provider_calls("rate_limited")
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert caught.value.reason == "rate_limited"
    assert fake.calls == 1
    assert provider_calls("rate_limited") == limited_before + 1


async def test_a_slow_answer_times_out_each_attempt(fake: FakeKakao) -> None:
    fake.delay_seconds = 5
    provider = KakaoLocal(fake.api_key, base_url=fake.url, timeout_seconds=0.2, retries=2)
    timeouts_before, timed_before = provider_calls("timeout"), provider_timings()
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    elapsed = time.monotonic() - started
    await provider.aclose()

    assert caught.value.reason == "timeout"
    assert fake.calls == 3
    # Three attempts of 0.2 s and backoffs of at most 0.1 s and 0.2 s.
    assert 0.6 <= elapsed < 0.9 + 0.4
    assert provider_calls("timeout") == timeouts_before + 1
    assert provider_timings() == timed_before + 1


async def test_a_hung_upstream_times_out(fake: FakeKakao) -> None:
    fake.hang = True
    provider = KakaoLocal(fake.api_key, base_url=fake.url, timeout_seconds=0.2, retries=0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    await provider.aclose()
    assert caught.value.reason == "timeout"
    assert time.monotonic() - started < 0.6
    assert fake.calls == 1


async def test_nothing_listening_is_an_error() -> None:
    provider = KakaoLocal("key", base_url=f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    await provider.aclose()
    assert caught.value.reason == "error"


async def test_a_given_client_is_left_open(fake: FakeKakao) -> None:
    async with httpx.AsyncClient() as client:
        provider = KakaoLocal(fake.api_key, base_url=fake.url, client=client)
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
        await provider.aclose()
        assert not client.is_closed


# The breaker in the provider


async def test_the_breaker_opens_and_a_trial_closes_it(fake: FakeKakao) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_after_seconds=30, clock=clock)
    provider = KakaoLocal(fake.api_key, base_url=fake.url, retries=0, breaker=breaker)
    fake.fail_next = 100
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert state(breaker) is BreakerState.OPEN
    assert fake.calls == 3

    open_before, timed_before = provider_calls("circuit_open"), provider_timings()
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert caught.value.reason == "circuit_open"
    assert fake.calls == 3  # no request
    assert provider_calls("circuit_open") == open_before + 1
    assert provider_timings() == timed_before  # nothing reached HTTP

    clock.advance(30)
    fake.fail_next = 0
    points = await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert len(points) == fake.places
    assert fake.calls == 4
    assert state(breaker) is BreakerState.CLOSED
    await provider.aclose()


async def test_a_failed_trial_opens_it_again(fake: FakeKakao) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_seconds=30, clock=clock)
    provider = KakaoLocal(fake.api_key, base_url=fake.url, retries=0, breaker=breaker)
    fake.fail_next = 100
    with pytest.raises(ProviderUnavailable):
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    clock.advance(30)
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert caught.value.reason == "error"  # the trial reached Kakao
    assert fake.calls == 2
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(ProviderUnavailable) as caught:
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert caught.value.reason == "circuit_open"
    assert fake.calls == 2
    await provider.aclose()


async def test_a_search_counts_once_for_the_breaker_however_many_attempts(
    fake: FakeKakao,
) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    provider = KakaoLocal(fake.api_key, base_url=fake.url, retries=2, breaker=breaker)
    fake.fail_next = 3
    with pytest.raises(ProviderUnavailable):
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert fake.calls == 3
    assert state(breaker) is BreakerState.CLOSED
    await provider.aclose()


async def test_rate_limited_counts_as_a_failure_for_the_breaker(fake: FakeKakao) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=FakeClock())
    provider = KakaoLocal(fake.api_key, base_url=fake.url, breaker=breaker)
    fake.rate_limited = True
    with pytest.raises(ProviderUnavailable):
        await provider.search(BATTERY, *CITY_HALL, radius_m=1_000)
    assert state(breaker) is BreakerState.OPEN
    await provider.aclose()


# The breaker alone


def test_a_breaker_trips_on_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=FakeClock())
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # the run is broken
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.allow()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()


def test_an_open_breaker_lets_one_trial_through_after_the_reset_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()
    assert state(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow()  # one trial at a time
    assert not breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allow()


def test_a_failed_trial_waits_a_whole_period_again() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_seconds=30, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()
    clock.advance(5)
    breaker.record_failure()  # a single failure in half-open reopens it
    assert state(breaker) is BreakerState.OPEN
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_a_trial_that_never_reports_is_given_up_after_a_period() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(30)
    assert breaker.allow()  # and its caller is cancelled, say
    clock.advance(29)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()
    assert state(breaker) is BreakerState.HALF_OPEN


def test_late_outcomes_do_not_move_an_open_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_after_seconds=30, clock=clock)
    breaker.record_failure()
    clock.advance(20)
    breaker.record_success()  # from a call let through before it opened
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    clock.advance(10)
    assert breaker.allow()


def test_a_breaker_needs_a_positive_threshold() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
