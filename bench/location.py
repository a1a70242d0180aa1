"""Where to take it: location-api's nearby searches, people and points placed as in Korea's cities.

The real location-api process serves it (uvicorn, one worker) against a PostgreSQL database with
PostGIS and a redis-server of this run's own, with the real auth-api for the tokens (`--accounts`
accounts signed up and signed in, the people sharing them) and a fake of Kakao Local
(tests/support/fake_kakao.py) in a thread of this process, answering each search after 0.2-0.5 s
as the real one does.

Points (one bulk INSERT): six cities, each with a share of the points by its population (Seoul
9.4M, Busan 3.3M, Incheon 3.0M, Daegu 2.4M, Daejeon and Gwangju 1.4M), scattered around its
centre (Gaussian, standard deviation 5 km). Dense kinds are thousands (clothes bins 8,000, battery
boxes 5,000), medicine and lamp boxes 2,000 and 1,500, sparse kinds tens (small appliances 60,
recycling centres 40): the sparse ones are where the service finds fewer than 3 of its own and
asks Kakao too.

People: `--people` of them, each in a city by population, with a home (standard deviation 4 km
around the centre) and a place of work (2.5 km: work is more central); each search comes from one of
the two (home 7 in 10) within a few metres (GPS), so a person asking again asks about the same spot,
as people do. A search is for one kind, battery 35 %, clothes 25 %, medicine 15 %, lamp 12 %, small
appliance 8 %, recycling centre 5 %; a quarter of them go through GET /locations/for-class with a
middle class of that kind (전지, 의류및원단, 폐의약품, 조명제품...: a guide's "where to take it"
link, which names no radius, so its default of 2,000 m), the rest through GET /locations/nearby with
a radius of 1,000 m (7 in 10: its default), 2,000 m (2 in 10), 500 m or 5,000 m (1 in 20 each). The
workload is drawn from `--seed`: the same seed, the same searches.

Then, open loop as bench.accept (each search sent on schedule whether or not earlier ones were
answered, each latency counted from its scheduled start, so queueing in the server shows), after
one search alone (the JWKS fetched, and location-api's check for PostGIS done: searches arriving
while that first check runs are answered 503):

1. warm-up: `--warm-seconds` at `--warm-rate`, the cache empty at first: latencies not kept.
2. measured: `--seconds` at `--rate`, the same people searching on; location-api's CPU time and
   its PostgreSQL backends' are counted meanwhile, and how busy the machine was.

Each answer's `X-Cache` (hit, stale, miss) is read: the hit rate (hit + stale, both answered from
Redis at once) of the measured part and of the whole run, and p50/p95/p99 of the hits and of the
misses in the measured part (the misses also split by whether their entry needed Kakao). Targets
(the issue's): hit rate ≥ 90 %, p99 ≤ 15 ms on hits. `/metrics`'s lookups are read too (its
`shared`: misses that waited for another search's build of the same entry).

Kakao: the searches the fake received, beside what the same searches would have made without the
cache. An entry's build asks Kakao when fewer than 3 of our points of the kind are within the
radius bucket of the entry's cell centre (bunri.locations.nearby); without a cache every search
would build its entry. So after the run one PostGIS query counts, for each distinct (kind, radius
bucket, cell) asked for, our points as the build does (from the cell's centre, on the sphere like
its haversine): the counterfactual is the number of searches whose entry needs Kakao. The calls
the cache should have let through are predicted beside it: one per such entry (single-flight,
nothing expiring within a run); a fake's count above it means retries or failed builds.

The hit rate depends on how long the cache has been filling: a run starts it empty and lasts a
minute or two, while entries stay fresh for an hour (with Kakao's places) or six (ours only). So
the searches are also replayed by key (`replay`: a hit when the entry was built before and is not
past its freshness; as if builds were instant), which predicts the measured hit rate (but for the
misses that waited on a build) and thereby checks itself; and the same replay over
`--project-hours` of searches at `--rate`, each by a new person (nobody asking twice: the cautious
end), gives the hit rate and the Kakao calls of the last `--seconds` of a cache that old. That is
a projection from the workload, not a measurement, and is printed as one.

    .venv/bin/python -m bench.location [--rate 200] [--seconds 30] [--warm-rate 200]
        [--warm-seconds 60] [--people 20000] [--accounts 8] [--seed 1] [--project-hours 1]
        [--record]

`--record` puts this run's figures into the last `make bench`'s (bench/results/latest.json)
and writes latest.md and the README's table again.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import uvloop
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text

from bench.character import Account, Cpu, CpuMeter, own_database, own_redis, sign_up
from bench.rawhttp import TIMED_OUT, TIMEOUT_SECONDS, get_request
from bench.report import LOCATION_HIT_P99_MS, LOCATION_HIT_RATE
from bench.stack import BIN, base_env, collector_paused, migrate, process, quiet_collector
from bunri.db.sync import sync_url
from bunri.locations.cells import Cell, bucket_for, cell_of
from bunri.locations.kinds import LOCATIONS_PATH, all_kinds
from bunri.locations.nearby import MIN_OWN_POINTS, OWN_FRESH_SECONDS, PROVIDER_FRESH_SECONDS
from tests.support.fake_kakao import DEFAULT_KEY, FakeKakao, fake_kakao
from tests.support.servers import free_port

RATE = 200.0
SECONDS = 30.0
WARM_RATE = 200.0
WARM_SECONDS = 60.0
PEOPLE = 20_000
ACCOUNTS = 8
SEED = 1
PROJECT_HOURS = 1.0
KAKAO_DELAY_S = (0.2, 0.5)  # the real API's usual answer time
DATABASE = "bunri_bench_location"
# Nothing here uses the broker, but every service's settings name one.
UNUSED_BROKER = "amqp://guest:guest@127.0.0.1:5672/bunri_bench_location"

METRES_PER_DEGREE = 111_195.0  # of latitude, on the sphere haversine_m uses
POINT_SIGMA_M = 5_000.0
HOME_SIGMA_M = 4_000.0
WORK_SIGMA_M = 2_500.0
AT_WORK = 0.3
GPS_SIGMA_M = 30.0
FOR_CLASS = 0.25
FOR_CLASS_RADIUS_M = 2_000  # /for-class's default: a guide's link names no radius


@dataclass(frozen=True)
class City:
    name: str  # as an address writes it
    population_m: float
    lat: float
    lon: float


CITIES = (
    City("서울특별시", 9.4, 37.5665, 126.9780),
    City("부산광역시", 3.3, 35.1796, 129.0756),
    City("인천광역시", 3.0, 37.4563, 126.7052),
    City("대구광역시", 2.4, 35.8714, 128.6014),
    City("대전광역시", 1.4, 36.3504, 127.3845),
    City("광주광역시", 1.4, 35.1595, 126.8526),
)
POINTS = {
    "clothes": 8_000,
    "battery": 5_000,
    "medicine": 2_000,
    "lamp": 1_500,
    "small_appliance": 60,
    "recycling_centre": 40,
}
KIND_SHARES = {
    "battery": 0.35,
    "clothes": 0.25,
    "medicine": 0.15,
    "lamp": 0.12,
    "small_appliance": 0.08,
    "recycling_centre": 0.05,
}
RADIUS_SHARES = {1_000: 0.70, 2_000: 0.20, 500: 0.05, 5_000: 0.05}

Key = tuple[str, int, Cell]  # a cache entry's: kind, radius bucket, cell


# -- the workload ------------------------------------------------------------------------------


def around(rng: random.Random, lat: float, lon: float, sigma_m: float) -> tuple[float, float]:
    """A position scattered around (lat, lon): Gaussian, `sigma_m` metres each way."""
    north, east = rng.gauss(0.0, sigma_m), rng.gauss(0.0, sigma_m)
    return (
        lat + north / METRES_PER_DEGREE,
        lon + east / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
    )


def pick_city(rng: random.Random) -> City:
    return rng.choices(CITIES, [city.population_m for city in CITIES])[0]


@dataclass(frozen=True)
class Person:
    home: tuple[float, float]
    work: tuple[float, float]


def new_person(rng: random.Random) -> Person:
    city = pick_city(rng)
    return Person(
        around(rng, city.lat, city.lon, HOME_SIGMA_M), around(rng, city.lat, city.lon, WORK_SIGMA_M)
    )


def population(count: int, seed: int) -> list[Person]:
    rng = random.Random(f"people:{seed}")
    return [new_person(rng) for _ in range(count)]


@dataclass(frozen=True)
class Ask:
    person: int  # its index in the population; -1: someone never seen again
    lat: float
    lon: float
    kind: str
    middle: str | None  # through /for-class, with this middle class; None: /nearby
    radius_m: int

    @property
    def key(self) -> Key:
        return self.kind, bucket_for(self.radius_m), cell_of(self.lat, self.lon)

    def target(self) -> str:
        """The path and query, as the app sends them."""
        position = {"lat": f"{self.lat:.6f}", "lon": f"{self.lon:.6f}"}
        if self.middle is not None:
            return f"{LOCATIONS_PATH}/for-class?" + urlencode({"middle": self.middle, **position})
        query = position | {"kind": self.kind, "radius": str(self.radius_m)}
        return f"{LOCATIONS_PATH}/nearby?" + urlencode(query)


# The search sent alone before the load: on Jeju, far from every city here, so that no entry of
# the workload is filled by it.
FIRST = Ask(-1, 33.4996, 126.5312, "battery", None, 1_000)


def asks(count: int, people: Sequence[Person] | None, seed: int) -> list[Ask]:
    """`count` searches by `people` (each by one drawn at random), or each by a new person when
    `people` is None."""
    rng = random.Random(f"asks:{seed}")
    kinds, kind_weights = list(KIND_SHARES), list(KIND_SHARES.values())
    radii, radius_weights = list(RADIUS_SHARES), list(RADIUS_SHARES.values())
    middles = {code: kind.middles for code, kind in all_kinds().items()}
    result = []
    for _ in range(count):
        if people is None:
            number, person = -1, new_person(rng)
        else:
            number = rng.randrange(len(people))
            person = people[number]
        spot = person.work if rng.random() < AT_WORK else person.home
        lat, lon = around(rng, *spot, GPS_SIGMA_M)
        # Rounded as sent, so that the key is the one the server works out.
        lat, lon = round(lat, 6), round(lon, 6)
        kind = rng.choices(kinds, kind_weights)[0]
        if rng.random() < FOR_CLASS:
            middle: str | None = rng.choice(middles[kind])
            radius = FOR_CLASS_RADIUS_M
        else:
            middle, radius = None, rng.choices(radii, radius_weights)[0]
        result.append(Ask(number, lat, lon, kind, middle, radius))
    return result


@dataclass(frozen=True)
class Replay:
    """What the cache would have done, of the last searches of a replay."""

    searches: int
    hits: int  # answered from the cache, fresh or stale
    kakao_calls: int  # builds and rebuilds of entries that needed Kakao
    kakao_without_cache: int  # searches whose entry needs Kakao: each would ask, uncached

    @property
    def hit_rate(self) -> float:
        return self.hits / self.searches if self.searches else 0.0

    @property
    def saved_share(self) -> float:
        saved = self.kakao_without_cache - self.kakao_calls
        return saved / self.kakao_without_cache if self.kakao_without_cache else 0.0


def replay(searches: Sequence[Ask], rate: float, needs: dict[Key, bool], last: int) -> Replay:
    """The cache replayed by key over `searches`, 1/`rate` s apart, of the last `last` of them:
    an entry built at its first search, a hit until past its freshness (ours 6 h; with Kakao's
    places 1 h), then stale (still answered from the cache) and built again. As if every build
    were instant (no search waits on another's) and Redis kept everything."""
    built: dict[Key, float] = {}
    first = len(searches) - last
    hits = calls = without = 0
    for index, ask in enumerate(searches):
        key = ask.key
        kakao = needs[key]
        now = index / rate
        since = built.get(key)
        fresh = PROVIDER_FRESH_SECONDS if kakao else OWN_FRESH_SECONDS
        builds = since is None or now - since >= fresh
        if builds:
            built[key] = now
        if index >= first:
            hits += since is not None
            calls += builds and kakao
            without += kakao
    return Replay(last, hits, calls, without)


def projected(rate: float, hours: float, seed: int) -> list[Ask]:
    """`hours` of searches at `rate`, each by a new person: nobody asking twice is the cautious
    end for the cache, which people asking again from home only help."""
    return asks(int(rate * hours * 3600), None, seed)


# -- the points --------------------------------------------------------------------------------

_SEED_POINTS = text(
    """
    INSERT INTO collection_points
        (id, source, source_id, kind, name, address, opening_notes, location, updated_at)
    SELECT gen_random_uuid(), 'bench', n::text, kind, name, address, NULL,
           ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography, now()
    FROM unnest(CAST(:kinds AS text[]), CAST(:names AS text[]), CAST(:addresses AS text[]),
                CAST(:lats AS float8[]), CAST(:lons AS float8[]))
         WITH ORDINALITY AS t(kind, name, address, lat, lon, n)
    """
)


def seed_points(engine: Engine, seed: int) -> int:
    """POINTS around the cities, in one INSERT, analysed as a table that has been there a while
    would be; how many."""
    rng = random.Random(f"points:{seed}")
    columns: dict[str, list[Any]] = {
        name: [] for name in ("kinds", "names", "addresses", "lats", "lons")
    }
    for code, count in POINTS.items():
        kind = all_kinds()[code]
        for number in range(1, count + 1):
            city = pick_city(rng)
            lat, lon = around(rng, city.lat, city.lon, POINT_SIGMA_M)
            columns["kinds"].append(code)
            columns["names"].append(f"{kind.name} {number}호")
            columns["addresses"].append(f"{city.name} 중앙로 {number}")
            columns["lats"].append(lat)
            columns["lons"].append(lon)
    with engine.begin() as connection:
        connection.execute(_SEED_POINTS, columns)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE collection_points"))
    return len(columns["kinds"])


# Our points of the kind within the radius bucket of the cell's centre, counted up to enough, as
# an entry's build does (bunri.locations.nearby; its haversine is the sphere's: use_spheroid
# false).
_OWN_NEAR = text(
    """
    SELECT k.n, (
        SELECT count(*) FROM (
            SELECT 1 FROM collection_points p
            WHERE p.kind = k.kind
              AND ST_DWithin(p.location, ST_SetSRID(ST_MakePoint(k.lon, k.lat), 4326)::geography,
                             k.radius, false)
            LIMIT :enough
        ) AS own
    ) AS own
    FROM unnest(CAST(:kinds AS text[]), CAST(:lats AS float8[]), CAST(:lons AS float8[]),
                CAST(:radii AS float8[])) WITH ORDINALITY AS k(kind, lat, lon, radius, n)
    """
)


def needs_kakao(engine: Engine, keys: Iterable[Key]) -> dict[Key, bool]:
    """Whether building each entry asks Kakao: fewer than MIN_OWN_POINTS of ours in reach."""
    distinct = list(dict.fromkeys(keys))
    centres = [cell.centre for _, _, cell in distinct]
    with engine.connect() as connection:
        rows = connection.execute(
            _OWN_NEAR,
            {
                "kinds": [kind for kind, _, _ in distinct],
                "lats": [lat for lat, _ in centres],
                "lons": [lon for _, lon in centres],
                "radii": [float(bucket) for _, bucket, _ in distinct],
                "enough": MIN_OWN_POINTS,
            },
        ).all()
    return {distinct[row.n - 1]: row.own < MIN_OWN_POINTS for row in rows}


# -- the servers -------------------------------------------------------------------------------


def environment(database_url: str, redis_url: str, kakao_url: str, scratch: Path) -> dict[str, str]:
    auth_port, location_port = free_port(), free_port()
    return base_env(UNUSED_BROKER, scratch) | {
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_AUTH_API_PORT": str(auth_port),
        "BUNRI_LOCATION_API_PORT": str(location_port),
        "BUNRI_LOCATION_API_WORKERS": "1",
        "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        "BUNRI_KAKAO_REST_API_KEY": DEFAULT_KEY,
        "BUNRI_KAKAO_BASE_URL": kakao_url,
        # One sign-in serves the whole run.
        "BUNRI_ACCESS_TOKEN_TTL_SECONDS": "3600",
        # Signing up is set-up, not what is measured.
        "BUNRI_ARGON2_TIME_COST": "1",
        "BUNRI_ARGON2_MEMORY_COST_KIB": "256",
    }


@contextmanager
def apis(env: dict[str, str], scratch: Path) -> Iterator[tuple[str, str, int]]:
    """auth-api and location-api (one uvicorn worker); their URLs, and location-api's pid."""
    auth = f"http://127.0.0.1:{env['BUNRI_AUTH_API_PORT']}"
    location = f"http://127.0.0.1:{env['BUNRI_LOCATION_API_PORT']}"
    with (
        process([str(BIN / "bunri-auth-api")], env, scratch / "auth.log", f"{auth}/healthz"),
        process(
            [str(BIN / "bunri-location-api")], env, scratch / "location.log", f"{location}/readyz"
        ) as server,
    ):
        yield auth, location, server.pid


def service_counters(location_url: str) -> Counter[str]:
    """location-api's cache lookups by result, and its Kakao calls by outcome (`kakao:ok`...)."""
    body = httpx.get(f"{location_url}/metrics", timeout=10).text
    counters: Counter[str] = Counter()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == "bunri_location_cache_lookups_total":
                counters[sample.labels["result"]] += int(sample.value)
            elif sample.name == "bunri_location_provider_calls_total":
                counters[f"{sample.labels['provider']}:{sample.labels['outcome']}"] += int(
                    sample.value
                )
    return counters


# -- the open loop -----------------------------------------------------------------------------


class CacheClient:
    """bench.rawhttp.RawClient's way (complete requests over keep-alive connections, the status
    line parsed and little else), reading each answer's X-Cache too, which RawClient skips."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def ask(self, request: bytes) -> tuple[int, str]:
        """(status, X-Cache or ""), or (TIMED_OUT, "") when no answer came in time."""
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                return await self._ask(request)
        except TimeoutError:
            return TIMED_OUT, ""

    async def _ask(self, request: bytes) -> tuple[int, str]:
        while True:
            if self._idle:
                reader, writer = self._idle.pop()
            else:
                reader, writer = await asyncio.open_connection(self._host, self._port)
            try:
                writer.write(request)
                # Empty: the server had closed this idle connection before the request reached
                # it (its keep-alive timeout), so sending it again on another is safe.
                try:
                    status_line = await reader.readline()
                except ConnectionResetError:
                    status_line = b""
                if not status_line:
                    writer.close()
                    continue
                status = int(status_line.split(b" ", 2)[1])
                length, keep_alive, cache = 0, True, ""
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"x-cache":
                        cache = value.strip().decode()
                    elif name == b"connection" and value.strip().lower() == b"close":
                        keep_alive = False
                await reader.readexactly(length)
            except asyncio.CancelledError:  # timed out: this connection is mid-response
                writer.close()
                raise
            if keep_alive:
                self._idle.append((reader, writer))
            else:
                writer.close()
            return status, cache

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass(frozen=True)
class Answer:
    status: int
    cache: str  # X-Cache: hit, stale, miss ("" when absent)
    latency_ms: float  # from its scheduled start


async def paced(client: CacheClient, requests: Sequence[bytes], rate: float) -> list[Answer]:
    """`requests` sent in order at `rate`, each on schedule whether or not the ones before were
    answered; their answers, in the same order."""
    answers: list[Answer | None] = [None] * len(requests)
    start = time.perf_counter()

    async def one(index: int, request: bytes) -> None:
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        status, cache = await client.ask(request)
        answers[index] = Answer(status, cache, (time.perf_counter() - scheduled) * 1000)

    await asyncio.gather(*(one(index, request) for index, request in enumerate(requests)))
    return [answer for answer in answers if answer is not None]


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    warm: list[Ask]
    measured: list[Ask]
    warm_answers: list[Answer]
    answers: list[Answer]
    kakao_after_warm: int  # searches the fake had received when the measured part began
    kakao_calls: int  # ... and at the end
    counters_after_warm: Counter[str]
    counters: Counter[str]
    cpu: Cpu  # location-api's and its PostgreSQL backends', during the measured part
    needs_kakao: dict[Key, bool] = field(default_factory=dict)


def measure(
    location_url: str,
    accounts: Sequence[Account],
    warm: Sequence[Ask],
    measured: Sequence[Ask],
    rates: tuple[float, float],
    kakao: FakeKakao,
    server: tuple[int, Engine],
) -> Run:
    """The warm-up at rates[0], then the measured searches at rates[1]."""

    def encoded(searches: Sequence[Ask]) -> list[bytes]:
        return [
            get_request(
                f"{location_url}{ask.target()}",
                accounts[max(ask.person, 0) % len(accounts)].headers,
            )
            for ask in searches
        ]

    warm_requests, measured_requests = encoded(warm), encoded(measured)
    first = get_request(f"{location_url}{FIRST.target()}", accounts[0].headers)

    async def run() -> Run:
        client = CacheClient(location_url)
        try:
            # Alone, before the load: the JWKS fetched and the service's check for PostGIS done
            # (searches that come while that check runs are answered 503).
            status, _ = await client.ask(first)
            if status != 200:
                raise SystemExit(f"the first search answered {status}, not 200")
            kakao_before = kakao.calls
            counters_before = await asyncio.to_thread(service_counters, location_url)
            warm_answers = await paced(client, warm_requests, rates[0])
            kakao_after_warm = kakao.calls - kakao_before
            counters_after_warm = await asyncio.to_thread(service_counters, location_url)
            meter = CpuMeter(*server)
            answers = await paced(client, measured_requests, rates[1])
            cpu = meter.stop()
            counters = await asyncio.to_thread(service_counters, location_url)
            return Run(
                list(warm),
                list(measured),
                warm_answers,
                answers,
                kakao_after_warm,
                kakao.calls - kakao_before,
                counters_after_warm - counters_before,
                counters - counters_before,
                cpu,
            )
        finally:
            await client.close()

    with collector_paused():
        return uvloop.run(run())


def run_location(
    rate: float = RATE,
    seconds: float = SECONDS,
    warm_rate: float = WARM_RATE,
    warm_seconds: float = WARM_SECONDS,
    people: int = PEOPLE,
    accounts: int = ACCOUNTS,
    seed: int = SEED,
    project_hours: float = PROJECT_HOURS,
    on_line: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start what it needs, seed the points, measure, stop everything; the figures (and its
    lines to `on_line`)."""
    quiet_collector()
    folks = population(people, seed)
    warm_count, measured_count = int(warm_rate * warm_seconds), int(rate * seconds)
    searches = asks(warm_count + measured_count, folks, seed)
    warm, measured = searches[:warm_count], searches[warm_count:]
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        scratch = Path(folder)
        redis_url = stack.enter_context(own_redis(scratch))
        database_url = stack.enter_context(own_database(DATABASE))
        kakao = stack.enter_context(fake_kakao(delay_range=KAKAO_DELAY_S))
        env = environment(database_url, redis_url, kakao.url, scratch)
        migrate(env)
        engine = create_engine(sync_url(database_url), pool_size=2)
        stack.callback(engine.dispose)
        began = time.perf_counter()
        points = seed_points(engine, seed)
        with apis(env, scratch) as (auth_url, location_url, server):
            signed_in = asyncio.run(sign_up(auth_url, accounts))
            on_line(
                f"set-up: {points:,} points in 6 cities ({_shares(POINTS)}), {accounts} accounts "
                f"signed in, in {time.perf_counter() - began:.1f} s; {people:,} people, "
                f"{len(searches):,} searches ({len(searches) / people:.2f} a person)"
            )
            run = measure(
                location_url, signed_in, warm, measured, (warm_rate, rate), kakao, (server, engine)
            )
        later = projected(rate, project_hours, seed) if project_hours > 0 else []
        needs = needs_kakao(engine, (ask.key for ask in [*searches, *later]))
    run.needs_kakao = {ask.key: needs[ask.key] for ask in searches}
    figures = location_figures(run, rate, seconds, warm_rate, warm_seconds, people, accounts, seed)
    figures["points"] = dict(POINTS)
    if later:
        window = replay(later, rate, needs, int(rate * seconds))
        figures["projection"] = {
            "hours": project_hours,
            "rate": rate,
            "seconds": seconds,
            "hit_rate": window.hit_rate,
            "kakao_calls": window.kakao_calls,
            "kakao_without_cache": window.kakao_without_cache,
            "saved_share": window.saved_share,
        }
    for line in lines(figures):
        on_line(line)
    return figures


def _shares(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {count:,}" for kind, count in counts.items())


# -- the figures -------------------------------------------------------------------------------


def _spread(latencies: Sequence[float]) -> dict[str, Any]:
    ordered = sorted(latencies)

    def rank(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    return {
        "n": len(ordered),
        "p50": statistics.median(ordered) if ordered else 0.0,
        "p95": rank(0.95),
        "p99": rank(0.99),
    }


def _cache_counts(answers: Sequence[Answer]) -> dict[str, Any]:
    results = Counter(answer.cache for answer in answers if answer.status == 200)
    answered = sum(results.values())
    failed = Counter(str(answer.status) for answer in answers if answer.status != 200)
    return {
        "n": len(answers),
        "errors": sum(failed.values()),
        "failed": dict(sorted(failed.items())),  # by status; 0: no answer in time
        "hit": results["hit"],
        "stale": results["stale"],
        "miss": results["miss"],
        "hit_rate": (results["hit"] + results["stale"]) / answered if answered else 0.0,
    }


def location_figures(
    run: Run,
    rate: float,
    seconds: float,
    warm_rate: float,
    warm_seconds: float,
    people: int,
    accounts: int,
    seed: int,
) -> dict[str, Any]:
    """What `make bench` keeps (bench/results/latest.json's "location")."""
    everything = run.warm + run.measured
    ok = [answer for answer in run.answers if answer.status == 200]
    cached = [answer.latency_ms for answer in ok if answer.cache in ("hit", "stale")]
    missed = [
        (answer.latency_ms, run.needs_kakao[ask.key])
        for ask, answer in zip(run.measured, run.answers, strict=True)
        if answer.status == 200 and answer.cache == "miss"
    ]
    shared = run.counters["shared"] - run.counters_after_warm["shared"]
    whole = replay(everything, rate, run.needs_kakao, len(everything))
    without = whole.kakao_without_cache
    without_measured = sum(run.needs_kakao[ask.key] for ask in run.measured)
    measured_calls = run.kakao_calls - run.kakao_after_warm
    failed = sum(
        count
        for name, count in run.counters.items()
        if name.startswith("kakao:") and name != "kakao:ok"
    )
    return {
        "people": people,
        "accounts": accounts,
        "seed": seed,
        "kakao_delay_s": list(KAKAO_DELAY_S),
        "warm": {"rate": warm_rate, "seconds": warm_seconds, **_cache_counts(run.warm_answers)},
        "measured": {
            "rate": rate,
            "seconds": seconds,
            **_cache_counts(run.answers),
            "shared": shared,
            "replayed_hit_rate": replay(
                everything, rate, run.needs_kakao, len(run.measured)
            ).hit_rate,
            "hits": _spread(cached),
            "misses": _spread([latency for latency, _ in missed]),
            "misses_kakao": _spread([latency for latency, kakao in missed if kakao]),
            "misses_own": _spread([latency for latency, kakao in missed if not kakao]),
            # CPU milliseconds a search, of location-api and of its PostgreSQL backends.
            "server_cpu_ms": run.cpu.process_seconds * 1000 / max(len(run.answers), 1),
            "postgres_cpu_ms": run.cpu.postgres_seconds * 1000 / max(len(run.answers), 1),
            "machine_busy": run.cpu.busy,
        },
        "overall": _cache_counts(run.warm_answers + run.answers),
        "entries": len(run.needs_kakao),
        "entries_kakao": sum(run.needs_kakao.values()),
        "kakao": {
            "calls": run.kakao_calls,
            "predicted": whole.kakao_calls,
            "without_cache": without,
            "saved": without - run.kakao_calls,
            "saved_share": (without - run.kakao_calls) / without if without else 0.0,
            "measured_calls": measured_calls,
            "measured_without_cache": without_measured,
            "service_ok": run.counters["kakao:ok"],
            "service_failed": failed,
            # Requests past the first of a search: the client's retries after a timeout or a 5xx.
            "retries": run.kakao_calls - run.counters["kakao:ok"] - failed,
        },
    }


def met(figures: dict[str, Any]) -> tuple[bool, bool]:
    """(hit rate target met, p99-on-hits target met), of the measured part."""
    measured = figures["measured"]
    return (
        measured["hit_rate"] >= LOCATION_HIT_RATE,
        measured["hits"]["p99"] <= LOCATION_HIT_P99_MS and not measured["errors"],
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _latencies(spread: dict[str, Any]) -> str:
    if not spread["n"]:
        return "none"
    return (
        f"n={spread['n']:,} p50 {spread['p50']:.1f} ms, p95 {spread['p95']:.1f} ms, "
        f"p99 {spread['p99']:.1f} ms"
    )


def _counts(part: dict[str, Any]) -> str:
    return (
        f"hit rate {part['hit_rate']:.1%} (hit {part['hit']:,}, stale {part['stale']:,}, miss "
        f"{part['miss']:,}); errors {part['errors']}"
        + (f" {part['failed']}" if part["errors"] else "")
    )


def lines(figures: dict[str, Any]) -> list[str]:
    warm, measured, overall = figures["warm"], figures["measured"], figures["overall"]
    kakao = figures["kakao"]
    rate_met, p99_met = met(figures)
    result = [
        f"warm-up, cache empty at first, {warm['rate']:g}/s for {warm['seconds']:g} s: "
        f"n={warm['n']:,}  {_counts(warm)}",
        f"measured, {measured['rate']:g}/s for {measured['seconds']:g} s: n={measured['n']:,}  "
        f"{_counts(measured)}; {measured['shared']:,} of the misses waited on another's build "
        f"(target hit rate ≥ {LOCATION_HIT_RATE:.0%}: {_verdict(rate_met)})",
        f"  hits:   {_latencies(measured['hits'])} "
        f"(target p99 ≤ {LOCATION_HIT_P99_MS:g} ms: {_verdict(p99_met)})",
        f"  misses: {_latencies(measured['misses'])}",
        f"    asking Kakao: {_latencies(measured['misses_kakao'])}",
        f"    ours enough:  {_latencies(measured['misses_own'])}",
        f"  CPU a search: location-api {measured['server_cpu_ms']:.2f} ms, PostgreSQL "
        f"{measured['postgres_cpu_ms']:.2f} ms; machine {measured['machine_busy']:.0%} busy",
        f"whole run: n={overall['n']:,}  {_counts(overall)}; {figures['entries']:,} entries "
        f"asked for, {figures['entries_kakao']:,} of them needing Kakao",
        f"Kakao: {kakao['calls']:,} searches made (predicted {kakao['predicted']:,}: one per "
        f"entry needing it); without the cache {kakao['without_cache']:,}: "
        f"{kakao['saved']:,} saved ({kakao['saved_share']:.1%}); in the measured part "
        f"{kakao['measured_calls']:,} of {kakao['measured_without_cache']:,}; the service "
        f"counted {kakao['service_ok']:,} ok, {kakao['service_failed']} failed, "
        f"{kakao['retries']} retried",
        f"replay by key of this run's searches: measured hit rate "
        f"{measured['replayed_hit_rate']:.1%} were every build instant (the difference: misses "
        "that waited on a build)",
    ]
    projection = figures.get("projection")
    if projection:
        result.append(
            f"projection (a replay, not measured): after {projection['hours']:g} h at "
            f"{projection['rate']:g}/s, each search by a new person, the last "
            f"{projection['seconds']:g} s: hit rate {projection['hit_rate']:.1%}, Kakao asked "
            f"{projection['kakao_calls']:,} times for {projection['kakao_without_cache']:,} "
            f"without the cache ({projection['saved_share']:.1%} saved)"
        )
    return result


def record(figures: dict[str, Any]) -> Path:
    """This run's figures into the last `make bench`'s, and its report and README table again."""
    from bench import suite

    return suite.record_section("location", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=RATE, help="measured searches a second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds")
    parser.add_argument(
        "--warm-rate", type=float, default=WARM_RATE, help="warm-up searches a second"
    )
    parser.add_argument(
        "--warm-seconds", type=float, default=WARM_SECONDS, help="warm-up seconds (unmeasured)"
    )
    parser.add_argument("--people", type=int, default=PEOPLE, help="the people searching")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="accounts they share")
    parser.add_argument("--seed", type=int, default=SEED, help="the points' and searches' seed")
    parser.add_argument(
        "--project-hours",
        type=float,
        default=PROJECT_HOURS,
        help="the replayed hit rate of a cache this old (0: none)",
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the figures into bench/results/latest.{json,md} and the README's table",
    )
    args = parser.parse_args()
    print(
        f"location: location-api, 1 uvicorn worker, GET {LOCATIONS_PATH}/nearby and /for-class; "
        f"a fake Kakao answering in {KAKAO_DELAY_S[0]:g}-{KAKAO_DELAY_S[1]:g} s",
        flush=True,
    )
    figures = run_location(
        args.rate,
        args.seconds,
        args.warm_rate,
        args.warm_seconds,
        args.people,
        args.accounts,
        args.seed,
        args.project_hours,
        on_line=lambda line: print(line, flush=True),
    )
    if args.record:
        print(f"recorded in {record(figures)}", flush=True)
    errors = figures["warm"]["errors"] + figures["measured"]["errors"]
    if errors:
        raise SystemExit(f"{errors} searches did not answer 200")


if __name__ == "__main__":
    main()
