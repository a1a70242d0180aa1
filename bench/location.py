"""Where to take it: location-api's nearby searches with its cache warm, people and points placed
as in Korea's cities.

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
searches are drawn at once with numpy from `--seed`: the same seed, the same searches.

What is measured is the cache as production runs it, warm: the steady state. A search is answered
from the entries of its keys, a key being (kind, radius bucket, 0.01° cell: bunri.locations.cells;
/nearby asks for its kind's, /for-class for each kind of its class, here one). An entry is built at
its key's first search, stays fresh for an hour (with Kakao's places) or six (ours only), and past
that is still answered from Redis at once ("stale") while one search rebuilds it; Redis keeps it
24 h. So when the measured window starts, every key asked for in the hour before has its entry in
the cache (unless an import invalidated it or Redis ran out of memory, neither of which happens
here): built within that hour, it is fresh (1 h or 6 h have not passed); built earlier and
found fresh then, it may be past its freshness by now, and is answered stale, from the cache all
the same (the hit rate counts hit and stale alike). Whether a search of the window is answered
from the cache thus depends only on which keys the hour before asked for, not on when or how
often: that hour can be replayed compressed, each distinct key once. Keys asked for only earlier
(our entries are fresh for 6 h, and every entry is kept 24 h) are left out: the cautious side.

1. The hour before: `--hour-rate` times `--hour-seconds` searches (200/s for 3,600 s: 720,000),
   drawn from the same distribution. Its first `--cold-seconds` are sent open loop at
   `--hour-rate` to the empty cache, a cold start (a secondary figure: its hit rate). Then, of
   each distinct key that the rest of the hour asks for and the cold start did not, the hour's
   first search for it, closed loop with `--concurrency` searches in flight, as fast as the
   service answers: how long that took, and the Kakao calls it made.
2. The window, measured: `--seconds` at `--rate` (30 s at 200/s) of new searches, open loop as
   bench.accept (each sent on schedule whether or not earlier ones were answered, each latency
   counted from its scheduled start, so queueing in the server shows), by the same people (the
   same homes and places of work) with kinds, radii and ways in drawn as before: the people who
   look for a bin in this hour are mostly those who did in the last (an assumption, and a
   realistic one for a service used near home and work). location-api's CPU time and its
   PostgreSQL backends' are counted meanwhile, and how busy the machine was.

Each answer's `X-Cache` (hit, stale, miss) is read: the window's hit rate (hit + stale, both
answered from Redis at once), its counts, and p50/p95/p99 of the hits and of the misses (the
misses also split by whether their entry needed Kakao). Targets (the issue's): hit rate ≥ 90 %,
p99 ≤ 15 ms on hits, and no errors. `/metrics`'s lookups are read too (its `shared`: misses that
waited for another search's build of the same entry).

Kakao: after the run one PostGIS query tells, for each distinct key, whether its build asks Kakao
(fewer than 3 of our points of the kind within the radius bucket of the cell's centre, counted as
the build counts them, bunri.locations.nearby). Without a cache every search would ask Kakao for
each of its keys that needs it: so many calls the hour would have made. With it the hour asks
once per distinct key that needs it, as the warm-up did (the fake's count beside that
prediction: more means retries or failed builds); the difference is the upstream calls saved. A
cache running for hours makes at most that many in an hour (a key's entry is rebuilt at most once
an hour, and only if asked for). The window's own Kakao calls are its new keys' builds: the
hourly rebuilds of the entries it finds are in the hour's figure, not the window's, since the
replay built every entry minutes before (in production some of its hits would be stale).

    .venv/bin/python -m bench.location [--rate 200] [--seconds 30] [--hour-rate 200]
        [--hour-seconds 3600] [--cold-seconds 10] [--concurrency 64] [--people 20000]
        [--accounts 8] [--seed 1] [--record]

`--record` puts this run's figures into the last `make bench`'s (bench/results/latest.json)
and writes latest.md and the README's table again.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import numpy.typing as npt
import uvloop
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, create_engine, text

from bench.character import Account, Cpu, CpuMeter, own_database, own_redis, sign_up
from bench.rawhttp import RawClient, get_request
from bench.report import LOCATION_HIT_P99_MS, LOCATION_HIT_RATE
from bench.stack import BIN, base_env, collector_paused, migrate, process, quiet_collector
from bunri.db.sync import sync_url
from bunri.locations.cells import CELL_DEGREES, RADIUS_BUCKETS_M, Cell, bucket_for, cell_of
from bunri.locations.kinds import LOCATIONS_PATH, all_kinds, kinds_for_middle
from bunri.locations.nearby import MIN_OWN_POINTS
from tests.support.fake_kakao import DEFAULT_KEY, FakeKakao, fake_kakao
from tests.support.servers import free_port

RATE = 200.0
SECONDS = 30.0
HOUR_RATE = 200.0
HOUR_SECONDS = 3600.0
WARM_SECONDS = HOUR_SECONDS  # the warm-up, as bench.suite names it: the hour before, compressed
COLD_SECONDS = 10.0
CONCURRENCY = 64
PEOPLE = 20_000
ACCOUNTS = 8
SEED = 1
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
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

# The columns' codes: a kind is its index in KINDS, a middle class its index in MIDDLES (-1:
# none, /nearby), each kind's middle classes side by side.
KINDS = tuple(KIND_SHARES)
# (the kind it is drawn for, the middle class)
MIDDLES = tuple((kind, middle) for kind in KINDS for middle in all_kinds()[kind].middles)
# The kinds each middle class's search asks for (bunri.locations.kinds.kinds_for_middle).
MIDDLE_KINDS = tuple(
    tuple(KINDS.index(each.code) for each in kinds_for_middle(middle)) for _, middle in MIDDLES
)
# A key's code, one int64: (kind * 8 + bucket's index) above the cell's row and column.
_CELL_BITS = 20
_CELL_OFFSET = 1 << (_CELL_BITS - 1)


# -- the workload ------------------------------------------------------------------------------


def _rng(purpose: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, purpose])


def _cities(rng: np.random.Generator, count: int) -> npt.NDArray[np.intp]:
    """`count` cities (their indices in CITIES), each drawn by population."""
    weights = np.array([city.population_m for city in CITIES])
    return rng.choice(len(CITIES), size=count, p=weights / weights.sum())


def _around(rng: np.random.Generator, lat: Floats, lon: Floats, sigma_m: float) -> Floats:
    """Positions (rows of lat, lon) scattered around (lat, lon): Gaussian, `sigma_m` metres each
    way."""
    north = rng.normal(0.0, sigma_m, len(lat))
    east = rng.normal(0.0, sigma_m, len(lat))
    return np.column_stack(
        (
            lat + north / METRES_PER_DEGREE,
            lon + east / (METRES_PER_DEGREE * np.cos(np.radians(lat))),
        )
    )


_CENTRES = np.array([(city.lat, city.lon) for city in CITIES])


@dataclass(frozen=True)
class People:
    """Where each person lives and works: rows of (lat, lon), one a person."""

    home: Floats
    work: Floats

    def __len__(self) -> int:
        return len(self.home)


def population(count: int, seed: int) -> People:
    rng = _rng(1, seed)
    centres = _CENTRES[_cities(rng, count)]
    home = _around(rng, centres[:, 0], centres[:, 1], HOME_SIGMA_M)
    work = _around(rng, centres[:, 0], centres[:, 1], WORK_SIGMA_M)
    return People(home, work)


@dataclass(frozen=True)
class Ask:
    person: int  # its index in the population; -1: someone never seen again
    lat: float
    lon: float
    kind: str
    middle: str | None  # through /for-class, with this middle class; None: /nearby
    radius_m: int

    @property
    def keys(self) -> tuple[Key, ...]:
        """The cache entries it is answered from, as the server works them out."""
        kinds = [self.kind] if self.middle is None else kinds_for_middle(self.middle)
        place = bucket_for(self.radius_m), cell_of(self.lat, self.lon)
        return tuple((kind if isinstance(kind, str) else kind.code, *place) for kind in kinds)

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


@dataclass(frozen=True)
class Searches:
    """Searches as columns, one row each (an hour of them is 720,000): `ask` makes one an Ask."""

    person: Ints  # its index in the population
    lat: Floats  # to the microdegree, as sent
    lon: Floats
    kind: Ints  # in KINDS
    middle: Ints  # in MIDDLES; -1: /nearby
    radius: Ints  # metres

    def __len__(self) -> int:
        return len(self.person)

    def __getitem__(self, rows: slice | Ints) -> Searches:
        return Searches(
            self.person[rows],
            self.lat[rows],
            self.lon[rows],
            self.kind[rows],
            self.middle[rows],
            self.radius[rows],
        )

    def __iter__(self) -> Iterator[Ask]:
        return (self.ask(row) for row in range(len(self)))

    def ask(self, row: int) -> Ask:
        middle = int(self.middle[row])
        return Ask(
            int(self.person[row]),
            float(self.lat[row]),
            float(self.lon[row]),
            KINDS[self.kind[row]],
            MIDDLES[middle][1] if middle >= 0 else None,
            int(self.radius[row]),
        )

    def key_codes(self) -> tuple[Ints, Ints]:
        """Each (search, key) asked for: the searches' rows and the keys' codes (`key_of` reads
        one back), a search's keys side by side, the searches in order."""
        through = self.middle >= 0
        sizes = np.array([len(kinds) for kinds in MIDDLE_KINDS])
        counts = np.ones(len(self), dtype=np.int64)
        counts[through] = sizes[self.middle[through]]
        rows = np.repeat(np.arange(len(self)), counts)
        nth = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        table = np.array([kind for kinds in MIDDLE_KINDS for kind in kinds], dtype=np.int64)
        starts = np.cumsum(sizes) - sizes
        kinds = self.kind[rows].copy()
        middles = self.middle[rows]
        by_class = middles >= 0
        kinds[by_class] = table[starts[middles[by_class]] + nth[by_class]]
        # The first bucket at least as wide as the radius, as bucket_for; the cell as cell_of
        # (the same float division and floor).
        buckets = np.searchsorted(np.array(RADIUS_BUCKETS_M), self.radius[rows], side="left")
        cell_rows = np.floor(self.lat[rows] / CELL_DEGREES).astype(np.int64)
        columns = np.floor(self.lon[rows] / CELL_DEGREES).astype(np.int64)
        codes = (kinds * 8 + buckets) << (2 * _CELL_BITS)
        codes |= (cell_rows + _CELL_OFFSET) << _CELL_BITS
        codes |= columns + _CELL_OFFSET
        return rows, codes


def key_of(code: int) -> Key:
    mask = (1 << _CELL_BITS) - 1
    column = (code & mask) - _CELL_OFFSET
    row = ((code >> _CELL_BITS) & mask) - _CELL_OFFSET
    kind, bucket = divmod(code >> (2 * _CELL_BITS), 8)
    return KINDS[kind], RADIUS_BUCKETS_M[bucket], Cell(row, column)


def asks(count: int, people: People, seed: int) -> Searches:
    """`count` searches, each by one of `people` drawn at random."""
    rng = _rng(2, seed)
    person = rng.integers(0, len(people), count)
    at_work = rng.random(count) < AT_WORK
    spots = np.where(at_work[:, None], people.work[person], people.home[person])
    position = _around(rng, spots[:, 0], spots[:, 1], GPS_SIGMA_M)
    # To the microdegree as sent, so that the cell is the one the server works out from the
    # query: the double nearest to the decimal the query writes.
    position = np.rint(position * 1e6) / 1e6
    shares = np.array(list(KIND_SHARES.values()))
    kind = rng.choice(len(KINDS), size=count, p=shares / shares.sum())
    through = rng.random(count) < FOR_CLASS
    # A middle class of the kind, each of the kind's alike.
    first = np.array([[k for k, _ in MIDDLES].index(code) for code in KINDS])
    many = np.array([len(all_kinds()[code].middles) for code in KINDS])
    which = first[kind] + np.floor(rng.random(count) * many[kind]).astype(np.int64)
    middle = np.where(through, which, -1)
    radii = np.array(list(RADIUS_SHARES))
    weights = np.array(list(RADIUS_SHARES.values()))
    radius = np.where(
        through, FOR_CLASS_RADIUS_M, radii[rng.choice(len(radii), size=count, p=weights)]
    )
    return Searches(
        person.astype(np.int64),
        position[:, 0],
        position[:, 1],
        kind.astype(np.int64),
        middle.astype(np.int64),
        radius.astype(np.int64),
    )


@dataclass(frozen=True)
class Hour:
    """The hour before the window, replayed: which of its searches are sent, and its keys."""

    searches: int
    cold: Ints  # rows sent open loop to the empty cache, the hour's first
    replayed: Ints  # rows sent compressed: each distinct key's first search, but the cold's
    keys: Ints  # the distinct keys' codes
    asked: Ints  # how many times the hour asks for each of `keys`


def compress(hour: Searches, cold: int) -> Hour:
    """The hour's first `cold` searches, then the first search of each key the rest asks for
    and they did not."""
    rows, codes = hour.key_codes()
    keys, first, asked = np.unique(codes, return_index=True, return_counts=True)
    starts = rows[first]
    replayed = np.unique(starts[starts >= cold])  # in the hour's order, each search once
    return Hour(len(hour), np.arange(min(cold, len(hour))), replayed, keys, asked)


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
    rng = _rng(3, seed)
    columns: dict[str, list[Any]] = {
        name: [] for name in ("kinds", "names", "addresses", "lats", "lons")
    }
    for code, count in POINTS.items():
        kind = all_kinds()[code]
        cities = _cities(rng, count)
        places = _around(rng, _CENTRES[cities, 0], _CENTRES[cities, 1], POINT_SIGMA_M)
        for number, (city, (lat, lon)) in enumerate(zip(cities, places, strict=True), start=1):
            columns["kinds"].append(code)
            columns["names"].append(f"{kind.name} {number}호")
            columns["addresses"].append(f"{CITIES[city].name} 중앙로 {number}")
            columns["lats"].append(float(lat))
            columns["lons"].append(float(lon))
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


def needs_kakao(engine: Engine, codes: Ints) -> npt.NDArray[np.bool_]:
    """Whether building each of the (distinct) keys asks Kakao: fewer than MIN_OWN_POINTS of
    ours in reach."""
    keys = [key_of(int(code)) for code in codes]
    centres = [cell.centre for _, _, cell in keys]
    with engine.connect() as connection:
        rows = connection.execute(
            _OWN_NEAR,
            {
                "kinds": [kind for kind, _, _ in keys],
                "lats": [lat for lat, _ in centres],
                "lons": [lon for _, lon in centres],
                "radii": [float(bucket) for _, bucket, _ in keys],
                "enough": MIN_OWN_POINTS,
            },
        ).all()
    needs = np.zeros(len(keys), dtype=np.bool_)
    for row in rows:
        needs[row.n - 1] = row.own < MIN_OWN_POINTS
    return needs


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


class CacheClient(RawClient):
    """RawClient reading each answer's X-Cache as well."""

    def __init__(self, url: str) -> None:
        super().__init__(url, b"")

    async def ask(self, request: bytes) -> tuple[int, str]:
        """(status, X-Cache or ""), or (TIMED_OUT, "") when no answer came in time."""
        status, _, cache = await self.exchange_reading(request, b"x-cache")
        return status, cache


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


async def closed(
    client: CacheClient, requests: Sequence[bytes], concurrency: int
) -> tuple[list[Answer], float]:
    """`requests` sent `concurrency` at a time, each as soon as one is answered; their answers in
    the same order (each latency from its sending), and how long they all took."""
    answers: list[Answer | None] = [None] * len(requests)
    pending = iter(range(len(requests)))

    async def sender() -> None:
        for index in pending:
            sent = time.perf_counter()
            status, cache = await client.ask(requests[index])
            answers[index] = Answer(status, cache, (time.perf_counter() - sent) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    took = time.perf_counter() - start
    return [answer for answer in answers if answer is not None], took


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Run:
    cold: list[Answer]  # the hour's first searches, open loop, the cache empty
    replayed: list[Answer]  # the rest of the hour, one search a key, closed loop
    replay_seconds: float
    replay_cpu: Cpu
    answers: list[Answer]  # the measured window's
    kakao_cold: int  # searches the fake received during each part
    kakao_replay: int
    kakao_window: int
    counters_warm: Counter[str]  # location-api's, over the hour's replay
    counters: Counter[str]  # ... over the whole run
    cpu: Cpu  # location-api's and its PostgreSQL backends', during the window


def measure(
    location_url: str,
    accounts: Sequence[Account],
    parts: tuple[Sequence[Ask], Sequence[Ask], Sequence[Ask]],
    rates: tuple[float, float],
    concurrency: int,
    kakao: FakeKakao,
    server: tuple[int, Engine],
) -> Run:
    """The cold start at rates[0], the replay of the rest of the hour `concurrency` at a time,
    then the window at rates[1]."""

    def encoded(searches: Sequence[Ask]) -> list[bytes]:
        return [
            get_request(
                f"{location_url}{ask.target()}",
                accounts[max(ask.person, 0) % len(accounts)].headers,
            )
            for ask in searches
        ]

    cold_requests, replay_requests, window_requests = (encoded(part) for part in parts)
    first = get_request(f"{location_url}{FIRST.target()}", accounts[0].headers)

    async def run() -> Run:
        client = CacheClient(location_url)
        try:
            # Alone, before the load: the JWKS fetched and the service's check for PostGIS done
            # (searches that come while that check runs are answered 503).
            status, _ = await client.ask(first)
            if status != 200:
                raise SystemExit(f"the first search answered {status}, not 200")
            calls = [kakao.calls]
            counters_before = await asyncio.to_thread(service_counters, location_url)
            cold = await paced(client, cold_requests, rates[0]) if cold_requests else []
            calls.append(kakao.calls)
            meter = CpuMeter(*server)
            replayed, took = await closed(client, replay_requests, concurrency)
            replay_cpu = meter.stop()
            calls.append(kakao.calls)
            counters_warm = await asyncio.to_thread(service_counters, location_url)
            meter = CpuMeter(*server)
            answers = await paced(client, window_requests, rates[1])
            cpu = meter.stop()
            calls.append(kakao.calls)
            counters = await asyncio.to_thread(service_counters, location_url)
            return Run(
                cold,
                replayed,
                took,
                replay_cpu,
                answers,
                calls[1] - calls[0],
                calls[2] - calls[1],
                calls[3] - calls[2],
                counters_warm - counters_before,
                counters - counters_before,
                cpu,
            )
        finally:
            await client.close()

    with collector_paused():
        return uvloop.run(run())


@dataclass(frozen=True)
class Keys:
    """What the run's keys need: the hour's and the window's, each distinct key once."""

    hour: Hour
    window: Searches
    codes: Ints  # every distinct key of the run, sorted
    needs: npt.NDArray[np.bool_]  # whether each of `codes` needs Kakao

    def need(self, codes: Ints) -> npt.NDArray[np.bool_]:
        return self.needs[np.searchsorted(self.codes, codes)]


def run_location(
    rate: float = RATE,
    seconds: float = SECONDS,
    hour_rate: float = HOUR_RATE,
    hour_seconds: float = HOUR_SECONDS,
    cold_seconds: float = COLD_SECONDS,
    concurrency: int = CONCURRENCY,
    people: int = PEOPLE,
    accounts: int = ACCOUNTS,
    seed: int = SEED,
    on_line: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start what it needs, seed the points, measure, stop everything; the figures (and its
    lines to `on_line`)."""
    quiet_collector()
    began = time.perf_counter()
    hour_count, window_count = int(hour_rate * hour_seconds), int(rate * seconds)
    searches = asks(hour_count + window_count, population(people, seed), seed)
    hour = compress(searches[:hour_count], int(hour_rate * cold_seconds))
    window = searches[hour_count:]
    cold = [searches.ask(int(row)) for row in hour.cold]
    replayed = [searches.ask(int(row)) for row in hour.replayed]
    drawn = time.perf_counter() - began
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
                f"{len(searches):,} searches drawn in {drawn:.1f} s: the hour before "
                f"{hour_count:,} ({len(hour.keys):,} distinct keys), the window {window_count:,}"
            )
            on_line(
                f"sending the hour's first {len(cold):,} searches at {hour_rate:g}/s, then of the "
                f"rest the first search of each key not yet asked for ({len(replayed):,}), "
                f"{concurrency} in flight; then the window"
            )
            run = measure(
                location_url,
                signed_in,
                (cold, replayed, list(window)),
                (hour_rate, rate),
                concurrency,
                kakao,
                (server, engine),
            )
        began = time.perf_counter()
        codes = np.unique(np.concatenate((hour.keys, window.key_codes()[1])))
        keys = Keys(hour, window, codes, needs_kakao(engine, codes))
        queried = time.perf_counter() - began
    figures = location_figures(
        run, keys, (rate, seconds), (hour_rate, hour_seconds, cold_seconds, concurrency)
    )
    figures |= {"people": people, "accounts": accounts, "seed": seed, "points": dict(POINTS)}
    on_line(f"which of the {len(codes):,} keys need Kakao: one PostGIS query, {queried:.1f} s")
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


def _saved(calls: int, without: int) -> dict[str, Any]:
    return {
        "kakao_calls": calls,
        "kakao_without_cache": without,
        "kakao_saved": without - calls,
        "saved_share": (without - calls) / without if without else 0.0,
    }


def location_figures(
    run: Run,
    keys: Keys,
    window: tuple[float, float],
    hour_settings: tuple[float, float, float, int],
) -> dict[str, Any]:
    """What `make bench` keeps (bench/results/latest.json's "location"), but the settings of the
    workload."""
    rate, seconds = window
    hour_rate, hour_seconds, cold_seconds, concurrency = hour_settings
    hour = keys.hour
    hour_needs = keys.need(hour.keys)
    # The window: each search's keys, whether any needs Kakao, and its keys the hour had not.
    rows, codes = keys.window.key_codes()
    needs = keys.need(codes)
    search_needs = np.zeros(len(keys.window), dtype=np.bool_)
    np.logical_or.at(search_needs, rows, needs)
    new = np.setdiff1d(codes, hour.keys)
    ok = [answer for answer in run.answers if answer.status == 200]
    cached = [answer.latency_ms for answer in ok if answer.cache in ("hit", "stale")]
    missed = [
        (answer.latency_ms, bool(search_needs[row]))
        for row, answer in enumerate(run.answers)
        if answer.status == 200 and answer.cache == "miss"
    ]
    failed = sum(
        count
        for name, count in run.counters.items()
        if name.startswith("kakao:") and name != "kakao:ok"
    )
    calls = run.kakao_cold + run.kakao_replay + run.kakao_window
    searches = len(run.answers)
    return {
        "kakao_delay_s": list(KAKAO_DELAY_S),
        "hour": {
            "rate": hour_rate,
            "seconds": hour_seconds,
            "searches": hour.searches,
            "keys": len(hour.keys),
            "keys_kakao": int(hour_needs.sum()),
            "cold": {"rate": hour_rate, "seconds": cold_seconds, **_cache_counts(run.cold)},
            "replay": {
                "concurrency": concurrency,
                "seconds": run.replay_seconds,
                "per_second": len(run.replayed) / max(run.replay_seconds, 1e-9),
                **_cache_counts(run.replayed),
                "server_cpu_ms": run.replay_cpu.process_seconds * 1000 / max(len(run.replayed), 1),
                "machine_busy": run.replay_cpu.busy,
            },
            # As a cache that has run for hours makes at most: one call a key needing Kakao.
            **_saved(run.kakao_cold + run.kakao_replay, int(hour.asked[hour_needs].sum())),
            "kakao_predicted": int(hour_needs.sum()),
        },
        "measured": {
            "rate": rate,
            "seconds": seconds,
            **_cache_counts(run.answers),
            "shared": run.counters["shared"] - run.counters_warm["shared"],
            "hits": _spread(cached),
            "misses": _spread([latency for latency, _ in missed]),
            "misses_kakao": _spread([latency for latency, kakao in missed if kakao]),
            "misses_own": _spread([latency for latency, kakao in missed if not kakao]),
            "new_keys": len(new),
            # Builds of the window's new keys only: the entries' hourly rebuilds are the hour's.
            "kakao_calls": run.kakao_window,
            "kakao_predicted": int(keys.need(new).sum()),
            "kakao_without_cache": int(needs.sum()),
            # CPU milliseconds a search, of location-api and of its PostgreSQL backends.
            "server_cpu_ms": run.cpu.process_seconds * 1000 / max(searches, 1),
            "postgres_cpu_ms": run.cpu.postgres_seconds * 1000 / max(searches, 1),
            "machine_busy": run.cpu.busy,
        },
        "kakao": {
            "calls": calls,
            "service_ok": run.counters["kakao:ok"],
            "service_failed": failed,
            # Requests past the first of a search: the client's retries after a timeout or a 5xx.
            "retries": calls - run.counters["kakao:ok"] - failed,
        },
    }


def met(figures: dict[str, Any]) -> tuple[bool, bool]:
    """(hit rate target met, p99-on-hits target met), of the measured window."""
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


def _calls(part: dict[str, Any]) -> str:
    return (
        f"Kakao asked {part['kakao_calls']:,} times (predicted {part['kakao_predicted']:,}: once "
        f"a key needing it) for {part['kakao_without_cache']:,} without the cache: "
        f"{part['kakao_saved']:,} saved ({part['saved_share']:.1%})"
    )


def lines(figures: dict[str, Any]) -> list[str]:
    hour, measured, kakao = figures["hour"], figures["measured"], figures["kakao"]
    cold, replay = hour["cold"], hour["replay"]
    rate_met, p99_met = met(figures)
    result = []
    if cold["n"]:
        result.append(
            f"cold start, the hour's first {cold['seconds']:g} s at {cold['rate']:g}/s to the "
            f"empty cache (not the headline): n={cold['n']:,}  {_counts(cold)}"
        )
    result += [
        f"warm-up, the rest of the hour compressed: the first search of each key not yet asked "
        f"for, {replay['n']:,} searches {replay['concurrency']} in flight: {replay['seconds']:.1f} "
        f"s ({replay['per_second']:.0f}/s, {replay['server_cpu_ms']:.1f} ms of location-api CPU "
        f"each, machine {replay['machine_busy']:.0%} busy); errors {replay['errors']}"
        + (f" {replay['failed']}" if replay["errors"] else ""),
        f"the hour before, {hour['rate']:g}/s for {hour['seconds']:g} s: {hour['searches']:,} "
        f"searches, {hour['keys']:,} distinct keys ({hour['keys_kakao']:,} needing Kakao); "
        f"{_calls(hour)}",
        f"measured, {measured['rate']:g}/s for {measured['seconds']:g} s after that hour: "
        f"n={measured['n']:,}  {_counts(measured)}; {measured['new_keys']:,} keys the hour had "
        f"not asked for; {measured['shared']:,} of the misses waited on another's build "
        f"(target hit rate ≥ {LOCATION_HIT_RATE:.0%}: {_verdict(rate_met)})",
        f"  hits:   {_latencies(measured['hits'])} "
        f"(target p99 ≤ {LOCATION_HIT_P99_MS:g} ms: {_verdict(p99_met)})",
        f"  misses: {_latencies(measured['misses'])}",
        f"    asking Kakao: {_latencies(measured['misses_kakao'])}",
        f"    ours enough:  {_latencies(measured['misses_own'])}",
        f"  CPU a search: location-api {measured['server_cpu_ms']:.2f} ms, PostgreSQL "
        f"{measured['postgres_cpu_ms']:.2f} ms; machine {measured['machine_busy']:.0%} busy",
        f"  Kakao asked {measured['kakao_calls']:,} times, for the window's new keys (predicted "
        f"{measured['kakao_predicted']:,}: once a new key needing it; the entries' hourly "
        f"rebuilds are the hour's figure), {measured['kakao_without_cache']:,} without the cache",
        f"Kakao, the whole run: {kakao['calls']:,} searches received; the service counted "
        f"{kakao['service_ok']:,} ok, {kakao['service_failed']} failed, {kakao['retries']} "
        "retried",
    ]
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
        "--hour-rate", type=float, default=HOUR_RATE, help="searches a second, the hour before"
    )
    parser.add_argument(
        "--hour-seconds",
        type=float,
        default=HOUR_SECONDS,
        help="the hour before the window, replayed by key (entries are fresh 1 h at least)",
    )
    parser.add_argument(
        "--cold-seconds",
        type=float,
        default=COLD_SECONDS,
        help="of the hour, sent open loop at --hour-rate to the empty cache first (0: none)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="searches in flight, the replay"
    )
    parser.add_argument("--people", type=int, default=PEOPLE, help="the people searching")
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="accounts they share")
    parser.add_argument("--seed", type=int, default=SEED, help="the points' and searches' seed")
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
    began = time.perf_counter()
    figures = run_location(
        args.rate,
        args.seconds,
        args.hour_rate,
        args.hour_seconds,
        args.cold_seconds,
        args.concurrency,
        args.people,
        args.accounts,
        args.seed,
        on_line=lambda line: print(line, flush=True),
    )
    print(f"took {time.perf_counter() - began:.0f} s in all", flush=True)
    if args.record:
        print(f"recorded in {record(figures)}", flush=True)
    parts = figures["hour"]["cold"], figures["hour"]["replay"], figures["measured"]
    errors = sum(part["errors"] for part in parts)
    if errors:
        raise SystemExit(f"{errors} searches did not answer 200")


if __name__ == "__main__":
    main()
