"""The character: reads through the versioned cache, mission claims, and a reward campaign.

The real character-api process serves it (uvicorn, one worker) with the real auth-api for the
tokens: `--users` accounts signed up and signed in (their password hashes made cheap: signing up
is not what is measured), each given a character with a few awards and a completed weekly
mission by SQL. Then, each latency counted from its request's scheduled start as in bench.accept
(queueing in the server shows):

1. reads: every account's GET /api/v1/character once (the cache filled), two seconds at the rate
   unmeasured, then `--seconds` at `--rate`, the accounts in turn, each with its own token; the
   cache's fills during the measured reads are counted (0: every read was a hit).
   DESIGN.md's target for the read: p99 ≤ 15 ms.
2. claims: POST /api/v1/character/missions/{id}/claim, each account once, at `--claim-rate`
   (the first two seconds' unmeasured); every one must answer 200. Then each account claims
   again: all must answer 409 `already_claimed`.
3. a campaign: the tables emptied, `--campaign-users` accounts inserted in bulk, and a campaign
   for everyone started (bunri.character.campaigns.start_campaign, committed, as `bunri rewards
   grant --all` does) while the character worker (`--concurrency` pool children, its default 2)
   and an outbox relay (`bunri relay`) run. Timed from the start to the campaign's
   `finished_at` (seen by polling), as users granted a second; then checked: one award per user.

Everything runs in a PostgreSQL database, a RabbitMQ vhost and a Redis server of its own (a
private redis-server on a free port), so that tests and other benchmarks on the machine are not
disturbed; the database and the vhost are dropped at the end.

    .venv/bin/python -m bench.character [--rate 300] [--seconds 20] [--users 1000]
        [--claim-rate 50] [--campaign-users 100000 (0: none)] [--concurrency 2] [--record]

`--record` puts this run's figures into the last `make bench`'s (bench/results/latest.json)
and writes latest.md and the README's table again.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis
import uvloop
from sqlalchemy import Connection, Engine, create_engine, func, insert, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench.accept import Result
from bench.rawhttp import RawClient, get_request, post_request
from bench.report import CHARACTER_READ_P99_MS
from bench.stack import (
    BIN,
    DATABASE_URL,
    PASSWORD,
    base_env,
    bench_vhost,
    collector_paused,
    migrate,
    process,
    quiet_collector,
)
from bench.storage_pools import CLOCK_TICKS, cpu_ticks, machine_cpu_ticks, tree_cpu_seconds
from bunri.character.campaigns import CAMPAIGN, start_campaign
from bunri.character.claims import MISSION as MISSION_SOURCE
from bunri.character.missions import load_missions
from bunri.character.periods import local_day, period_start
from bunri.db.base import Base, utcnow
from bunri.db.models import Character, CharacterAward, MissionProgress, RewardCampaign
from bunri.db.sync import sync_url
from bunri.ids import uuid7
from tests.support.processes import wait_for_log
from tests.support.servers import free_port

RATE = 300.0
SECONDS = 20.0
USERS = 1000
CLAIM_RATE = 50.0
CAMPAIGN_USERS = 100_000
CAMPAIGN_POINTS = 10
CONCURRENCY = 2  # the character worker's default (BUNRI_CHARACTER_WORKER_CONCURRENCY)
WARM_SECONDS = 2.0
CAMPAIGN_TIMEOUT_SECONDS = 900.0

CHARACTER_PATH = "/api/v1/character"
# Weekly: its period (from Monday, Asia/Seoul) does not end during a run but once a week.
MISSION = "weekly-ten-scans"
# Its own, apart from bench.stack's (profile_read, accept...) and the tests' (bunri_test_*).
DATABASE = "bunri_bench_character"
VHOST = "bunri_bench_character"
POSTGRES_SERVER = DATABASE_URL.rsplit("/", 1)[0]
# Each seeded character: this many awards (its `recent_awards`), 10 points each.
SEED_AWARDS = 5
SEED_AWARD_POINTS = 10
SEED_AWARD_DETAIL = {"major": "재활용폐기물", "middle": "페트병"}


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# -- the servers -------------------------------------------------------------------------------


@contextmanager
def own_database(name: str = DATABASE) -> Iterator[str]:
    """A database created empty for this run (dropped first, and again at the end); its URL."""

    def admin(statement: str) -> None:
        server = sync_url(f"{POSTGRES_SERVER}/postgres")
        engine = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def own_redis(scratch: Path) -> Iterator[str]:
    """A redis-server of this run's own on a free port, nothing saved; its URL. (The shared one's
    16 databases are the tests' and the other benchmarks'.)"""
    port = free_port()
    command = ["redis-server", "--bind", "127.0.0.1", "--port", str(port)]
    command += ["--save", "", "--appendonly", "no", "--dir", str(scratch)]
    with process(command, dict(os.environ), scratch / "redis.log"):
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.1)
        client.close()
        yield url


def environment(broker: str, database_url: str, redis_url: str, scratch: Path) -> dict[str, str]:
    auth_port, character_port = free_port(), free_port()
    return base_env(broker, scratch) | {
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_AUTH_API_PORT": str(auth_port),
        "BUNRI_CHARACTER_API_PORT": str(character_port),
        "BUNRI_CHARACTER_API_WORKERS": "1",
        "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        # One sign-in serves the whole run.
        "BUNRI_ACCESS_TOKEN_TTL_SECONDS": "3600",
        # Signing up a thousand accounts is set-up, not what is measured: cheap hashes (the
        # tokens are auth-api's own all the same).
        "BUNRI_ARGON2_TIME_COST": "1",
        "BUNRI_ARGON2_MEMORY_COST_KIB": "256",
    }


@contextmanager
def apis(env: dict[str, str], scratch: Path) -> Iterator[tuple[str, str, int]]:
    """auth-api and character-api (one uvicorn worker); their URLs, and character-api's pid."""
    auth = f"http://127.0.0.1:{env['BUNRI_AUTH_API_PORT']}"
    character = f"http://127.0.0.1:{env['BUNRI_CHARACTER_API_PORT']}"
    with (
        process([str(BIN / "bunri-auth-api")], env, scratch / "auth.log", f"{auth}/healthz"),
        process(
            [str(BIN / "bunri-character-api")],
            env,
            scratch / "character.log",
            f"{character}/readyz",
        ) as server,
    ):
        yield auth, character, server.pid


# -- set-up ------------------------------------------------------------------------------------


async def sign_up(auth_url: str, count: int, parallel: int = 8) -> list[Account]:
    """`count` new accounts, each signed in: their ids and access tokens."""
    stamp = time.time_ns()
    gate = asyncio.Semaphore(parallel)

    async def one(client: httpx.AsyncClient, number: int) -> Account:
        email = f"character-{stamp}-{number}@example.com"
        async with gate:
            created = await client.post(
                "/api/v1/auth/signup",
                json={"email": email, "password": PASSWORD, "nickname": f"bench{number}"},
            )
            created.raise_for_status()
            tokens = await client.post(
                "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
            )
            tokens.raise_for_status()
        return Account(uuid.UUID(created.json()["id"]), tokens.json()["access_token"])

    async with httpx.AsyncClient(base_url=auth_url, timeout=60) as client:
        return list(await asyncio.gather(*(one(client, number) for number in range(count))))


def seed_characters(engine: Engine, accounts: Sequence[Account]) -> None:
    """Each account: a character with SEED_AWARDS awards, and MISSION completed this period."""
    now = utcnow()
    mission = load_missions().get(MISSION)
    assert mission is not None, f"no mission {MISSION!r} in the missions file"
    with engine.begin() as connection:
        connection.execute(
            insert(Character),
            [
                {
                    "user_id": account.user_id,
                    "points": SEED_AWARDS * SEED_AWARD_POINTS,
                    "version": SEED_AWARDS + 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for account in accounts
            ],
        )
        connection.execute(
            insert(CharacterAward),
            [
                {
                    "id": uuid7(),
                    "user_id": account.user_id,
                    "key": f"bench:{number}",
                    "source": "scan.completed",
                    "points": SEED_AWARD_POINTS,
                    "reason": None,
                    "detail": {"scan_id": str(uuid7()), **SEED_AWARD_DETAIL},
                    "occurred_at": now,
                    "day": local_day(now),
                    "created_at": now,
                }
                for account in accounts
                for number in range(SEED_AWARDS)
            ],
        )
        connection.execute(
            insert(MissionProgress),
            [
                {
                    "user_id": account.user_id,
                    "mission_id": mission.id,
                    "period_start": period_start(mission.period, now),
                    "progress": mission.goal,
                    "seen": [],
                    "completed_at": now,
                    "claimed_at": None,
                    "updated_at": now,
                }
                for account in accounts
            ],
        )


# -- the open loop -----------------------------------------------------------------------------


@dataclass
class Paced:
    """One open-loop run: the result (latencies of the answers that were as expected) and every
    status seen."""

    result: Result
    statuses: Counter[int]


async def paced(
    client: RawClient,
    requests: Sequence[bytes],
    rate: float,
    expected: int,
    label: str,
    body_says: bytes | None = None,
) -> Paced:
    """`requests` sent in order at `rate` (each on schedule, whether or not the ones before were
    answered), each latency counted from its scheduled start; an answer counts when its status
    is `expected` (and its body holds `body_says`, when given)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    start = time.perf_counter()

    async def one(scheduled: float, request: bytes) -> None:
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        status, body = await client.exchange(request)
        statuses[status] += 1
        if status == expected and (body_says is None or body_says in body):
            latencies.append((time.perf_counter() - scheduled) * 1000)

    await asyncio.gather(
        *(one(start + index / rate, request) for index, request in enumerate(requests))
    )
    errors = len(requests) - len(latencies)
    return Paced(Result(label, latencies, errors, time.perf_counter() - start), statuses)


def in_turn(requests: Sequence[bytes], count: int, offset: int = 0) -> list[bytes]:
    return [requests[(offset + index) % len(requests)] for index in range(count)]


def cache_fills(redis_url: str) -> int:
    """Scripts run on the Redis so far: the cache's fills (and its tombstones, which reads do not
    write). Only this run uses that Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    scripts = (stats.get(f"cmdstat_{name}", {}) for name in ("eval", "evalsha"))
    return sum(int(figures.get("calls", 0)) for figures in scripts)


@dataclass(frozen=True)
class Cpu:
    """Where a part's time went: CPU seconds of the process measured (all its processes) and of
    the PostgreSQL backends serving the benchmark's database, and how busy the machine's cores
    were meanwhile (0..1; whatever else ran on the machine included)."""

    process_seconds: float
    postgres_seconds: float
    busy: float


class CpuMeter:
    """Started before a part, read after it; `sample` now and then in between keeps the figure
    of a backend that ends before the part does."""

    def __init__(self, pid: int, engine: Engine) -> None:
        self._pid = pid
        self._watch = engine.connect()
        self._process = tree_cpu_seconds(pid)
        self._machine = machine_cpu_ticks()
        self._backends_before = backend_ticks(self._watch)
        self._backends = dict(self._backends_before)

    def sample(self) -> None:
        self._backends |= backend_ticks(self._watch)

    def stop(self) -> Cpu:
        busy, total = machine_cpu_ticks()
        self.sample()
        self._watch.close()
        postgres = sum(
            ticks - self._backends_before.get(pid, 0) for pid, ticks in self._backends.items()
        )
        return Cpu(
            process_seconds=tree_cpu_seconds(self._pid) - self._process,
            postgres_seconds=postgres / CLOCK_TICKS,
            busy=(busy - self._machine[0]) / max(total - self._machine[1], 1),
        )


def backend_ticks(connection: Connection) -> dict[int, int]:
    """CPU ticks so far of each PostgreSQL backend serving this database but `connection`."""
    pids = connection.scalars(
        text(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    ).all()
    connection.rollback()
    return {pid: ticks for pid in pids if (ticks := cpu_ticks(pid)) is not None}


# -- 1. reads ----------------------------------------------------------------------------------


@dataclass
class Reads:
    measured: Paced
    fills: int  # cache fills during the measured reads
    cpu: Cpu  # character-api's, during the measured reads


def measure_reads(
    engine: Engine,
    server: int,
    character_url: str,
    accounts: Sequence[Account],
    rate: float,
    seconds: float,
    redis_url: str,
) -> Reads:
    endpoint = f"{character_url}{CHARACTER_PATH}"
    requests = [get_request(endpoint, account.headers) for account in accounts]

    async def run() -> Reads:
        client = RawClient(endpoint, requests[0])
        try:
            gate = asyncio.Semaphore(16)

            async def first(request: bytes) -> int:
                async with gate:
                    return await client.send(request)

            # Every character read once: the cache filled (anything but 200 stops the run).
            statuses = Counter(await asyncio.gather(*(first(request) for request in requests)))
            if set(statuses) != {200}:
                raise SystemExit(f"the first reads answered {dict(statuses)}, not all 200")
            warm = int(rate * WARM_SECONDS)
            await paced(client, in_turn(requests, warm), rate, 200, "warm")
            fills = cache_fills(redis_url)
            meter = CpuMeter(server, engine)
            measured = await paced(
                client,
                in_turn(requests, int(rate * seconds), offset=warm),
                rate,
                200,
                f"open loop {rate:g}/s",
            )
            cpu = meter.stop()
            return Reads(measured, cache_fills(redis_url) - fills, cpu)
        finally:
            await client.close()

    with collector_paused():
        return uvloop.run(run())


# -- 2. claims ---------------------------------------------------------------------------------


@dataclass
class Claims:
    warm: Paced  # the first claims of the first two seconds, unmeasured
    first: Paced  # the measured first claims
    second: Paced  # every account's second claim
    awards: int  # mission awards in the database afterwards
    cpu: Cpu  # character-api's, during the measured first claims


def measure_claims(
    engine: Engine, server: int, character_url: str, accounts: Sequence[Account], rate: float
) -> Claims:
    endpoint = f"{character_url}{CHARACTER_PATH}/missions/{MISSION}/claim"
    requests = [post_request(endpoint, account.headers) for account in accounts]
    warm = min(int(rate * WARM_SECONDS), len(requests) // 10)

    async def run() -> tuple[Paced, Paced, Paced, Cpu]:
        client = RawClient(endpoint, requests[0])
        try:
            warming = await paced(client, requests[:warm], rate, 200, "warm")
            meter = CpuMeter(server, engine)
            first = await paced(client, requests[warm:], rate, 200, f"open loop {rate:g}/s")
            cpu = meter.stop()
            second = await paced(
                client, requests, rate, 409, "second claim", body_says=b'"already_claimed"'
            )
            return warming, first, second, cpu
        finally:
            await client.close()

    with collector_paused():
        warming, first, second, cpu = uvloop.run(run())
    with engine.connect() as connection:
        awards = connection.scalar(
            select(func.count())
            .select_from(CharacterAward)
            .where(CharacterAward.key.like(f"{MISSION_SOURCE}:{MISSION}:%"))
        )
    return Claims(warming, first, second, awards or 0, cpu)


# -- 3. a campaign -----------------------------------------------------------------------------


@dataclass
class Campaign:
    users: int
    points: int
    concurrency: int
    insert_seconds: float  # the bulk INSERT of the users
    start_seconds: float  # start_campaign and its commit
    first_chunk_seconds: float  # from the start until the first chunk was done
    seconds: float  # from the start until finished
    chunks: int
    chunk_task_seconds: list[float]  # each chunk task's run time, from the worker's log
    cpu: Cpu  # the worker's (its pool children too), from the start until finished
    relay_cpu_seconds: float
    awards: int
    awarded_users: int
    unawarded_users: int
    users_granted: int

    @property
    def users_per_second(self) -> float:
        return self.users_granted / self.seconds

    @property
    def verified(self) -> bool:
        return (
            self.awards == self.users == self.awarded_users == self.users_granted
            and self.unawarded_users == 0
        )


def empty_tables(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))


def insert_users(engine: Engine, count: int) -> float:
    """`count` accounts in one INSERT (ids as the application makes them: UUIDv7), analysed as
    a table that has been there a while would be; the seconds it took."""
    began = time.perf_counter()
    ids = [uuid7() for _ in range(count)]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, email, nickname, roles, created_at, updated_at) "
                "SELECT id, 'campaign-' || n || '@example.com', 'bench' || n, '[]'::jsonb, "
                "now(), now() FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS t(id, n)"
            ),
            {"ids": ids},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE users"))
    return time.perf_counter() - began


TASK_SUCCEEDED = re.compile(r"succeeded in ([0-9.]+)s")


def run_campaign(
    engine: Engine,
    env: dict[str, str],
    scratch: Path,
    users: int,
    concurrency: int,
    on_line: Callable[[str], None],
) -> Campaign:
    empty_tables(engine)
    insert_seconds = insert_users(engine, users)
    on_line(f"campaign: {users:,} users inserted in {insert_seconds:.1f} s")
    logged = env | {"BUNRI_LOG_LEVEL": "INFO"}
    worker_env = logged | {"BUNRI_CHARACTER_WORKER_CONCURRENCY": str(concurrency)}
    worker_log, relay_log = scratch / "character-worker.log", scratch / "relay.log"
    name = f"bench-{time.strftime('%Y%m%d-%H%M%S')}"
    with (
        process([str(BIN / "bunri-character-worker")], worker_env, worker_log) as worker,
        process([str(BIN / "bunri"), "relay"], logged, relay_log) as relay,
        engine.connect() as watch,
    ):
        wait_for_log(worker_log, " ready.", worker, 180)
        wait_for_log(relay_log, "outbox relay running", relay, 60)
        time.sleep(1.0)  # the relay's publisher connected (it declares the topology)
        relay_cpu = tree_cpu_seconds(relay.pid)
        meter = CpuMeter(worker.pid, engine)

        began = time.perf_counter()
        with Session(engine) as session:
            start_campaign(
                session, name=name, points=CAMPAIGN_POINTS, started_by="bench", users=None
            )
            session.commit()
        started = time.perf_counter()

        first_chunk: float | None = None
        sampled = 0.0
        deadline = time.monotonic() + CAMPAIGN_TIMEOUT_SECONDS
        while True:
            row = watch.execute(
                select(
                    RewardCampaign.chunks_done,
                    RewardCampaign.chunks_total,
                    RewardCampaign.users_granted,
                    RewardCampaign.finished_at,
                ).where(RewardCampaign.name == name)
            ).one()
            watch.rollback()
            now = time.perf_counter()
            if first_chunk is None and row.chunks_done:
                first_chunk = now
            if row.finished_at is not None:
                break
            if now - sampled > 0.5:
                meter.sample()
                sampled = now
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"campaign not finished: {row.chunks_done}/{row.chunks_total} chunks; "
                    f"worker log:\n{worker_log.read_text()[-3000:]}"
                )
            time.sleep(0.05)
        finished = time.perf_counter()
        cpu = meter.stop()
        relay_cpu = tree_cpu_seconds(relay.pid) - relay_cpu
    key = f"{CAMPAIGN}:{name}"
    with engine.connect() as connection:
        awards, awarded = connection.execute(
            select(func.count(), func.count(CharacterAward.user_id.distinct())).where(
                CharacterAward.key == key
            )
        ).one()
        unawarded = connection.scalar(
            text(
                "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM character_awards a "
                "WHERE a.user_id = u.id AND a.key = :key)"
            ),
            {"key": key},
        )
        campaign = connection.execute(
            select(RewardCampaign.users_granted, RewardCampaign.chunks_total).where(
                RewardCampaign.name == name
            )
        ).one()
    return Campaign(
        users=users,
        points=CAMPAIGN_POINTS,
        concurrency=concurrency,
        insert_seconds=insert_seconds,
        start_seconds=started - began,
        first_chunk_seconds=(first_chunk or finished) - began,
        seconds=finished - began,
        chunks=campaign.chunks_total,
        chunk_task_seconds=[
            float(found) for found in TASK_SUCCEEDED.findall(worker_log.read_text(errors="replace"))
        ],
        cpu=cpu,
        relay_cpu_seconds=relay_cpu,
        awards=awards,
        awarded_users=awarded,
        unawarded_users=unawarded or 0,
        users_granted=campaign.users_granted,
    )


# -- the whole run -----------------------------------------------------------------------------


def run_character(
    rate: float = RATE,
    seconds: float = SECONDS,
    users: int = USERS,
    claim_rate: float = CLAIM_RATE,
    campaign_users: int = CAMPAIGN_USERS,
    concurrency: int = CONCURRENCY,
    on_line: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start what each part needs, measure the three, stop everything; the figures (and each
    part's line to `on_line` as it is measured)."""
    quiet_collector()
    figures: dict[str, Any] = {"users": users}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        scratch = Path(folder)
        redis_url = stack.enter_context(own_redis(scratch))
        broker = stack.enter_context(bench_vhost(VHOST))
        database_url = stack.enter_context(own_database())
        env = environment(broker, database_url, redis_url, scratch)
        migrate(env)
        engine = create_engine(sync_url(database_url), pool_size=2)
        stack.callback(engine.dispose)
        with apis(env, scratch) as (auth_url, character_url, server):
            began = time.perf_counter()
            accounts = asyncio.run(sign_up(auth_url, users))
            seed_characters(engine, accounts)
            on_line(
                f"set-up: {users} accounts signed up and signed in, each with a character "
                f"({SEED_AWARDS} awards) and {MISSION} completed, in "
                f"{time.perf_counter() - began:.1f} s"
            )
            reads = measure_reads(engine, server, character_url, accounts, rate, seconds, redis_url)
            figures["read"] = read_figures(reads, rate, seconds)
            on_line(read_line(figures["read"], users))
            claims = measure_claims(engine, server, character_url, accounts, claim_rate)
            figures["claim"], figures["second_claim"] = claim_figures(claims, claim_rate)
            on_line(claim_line(figures["claim"]))
            on_line(second_claim_line(figures["second_claim"]))
        if campaign_users:
            campaign = run_campaign(engine, env, scratch, campaign_users, concurrency, on_line)
            figures["campaign"] = campaign_figures(campaign)
            on_line(campaign_line(figures["campaign"]))
            if not campaign.verified:
                raise SystemExit(f"the campaign's awards do not add up: {figures['campaign']}")
    return figures


def _latency_figures(result: Result) -> dict[str, Any]:
    latencies = result.latencies_ms
    return {
        "n": len(latencies) + result.errors,
        "errors": result.errors,
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": result.percentile(0.99),
        "p999": result.percentile(0.999),
        "throughput": result.throughput,
    }


def read_figures(reads: Reads, rate: float, seconds: float) -> dict[str, Any]:
    """What `make bench` keeps of the reads (bench/results/latest.json's "character")."""
    return {
        "rate": rate,
        "seconds": seconds,
        **_latency_figures(reads.measured.result),
        "cache_fills": reads.fills,
        **_cpu_figures(reads.cpu, len(reads.measured.result.latencies_ms)),
    }


def _cpu_figures(cpu: Cpu, count: int) -> dict[str, Any]:
    """CPU milliseconds per request, of the server and of its PostgreSQL backends."""
    return {
        "server_cpu_ms": cpu.process_seconds * 1000 / max(count, 1),
        "postgres_cpu_ms": cpu.postgres_seconds * 1000 / max(count, 1),
        "machine_busy": cpu.busy,
    }


def claim_figures(claims: Claims, rate: float) -> tuple[dict[str, Any], dict[str, Any]]:
    first = claims.first
    second = claims.second
    return (
        {
            "rate": rate,
            **_latency_figures(first.result),
            "unmeasured": claims.warm.result.errors + len(claims.warm.result.latencies_ms),
            # Of every first claim, the unmeasured ones included.
            "statuses": _statuses(first.statuses + claims.warm.statuses),
            "awards": claims.awards,
            **_cpu_figures(claims.cpu, first.result.errors + len(first.result.latencies_ms)),
        },
        {
            "rate": rate,
            **_latency_figures(second.result),
            "already_claimed": len(second.result.latencies_ms),
            "statuses": _statuses(second.statuses),
        },
    )


def _statuses(seen: Counter[int]) -> dict[str, int]:
    return {str(status): count for status, count in sorted(seen.items())}


def campaign_figures(campaign: Campaign) -> dict[str, Any]:
    tasks = campaign.chunk_task_seconds
    return {
        "users": campaign.users,
        "points": campaign.points,
        "concurrency": campaign.concurrency,
        "seconds": campaign.seconds,
        "users_per_second": campaign.users_per_second,
        "insert_seconds": campaign.insert_seconds,
        "start_seconds": campaign.start_seconds,
        "first_chunk_seconds": campaign.first_chunk_seconds,
        "chunks": campaign.chunks,
        "chunk_task_p50_s": statistics.median(tasks) if tasks else None,
        "chunk_task_max_s": max(tasks) if tasks else None,
        "chunk_tasks_s": sum(tasks),
        "worker_cpu_s": campaign.cpu.process_seconds,
        "postgres_cpu_s": campaign.cpu.postgres_seconds,
        "relay_cpu_s": campaign.relay_cpu_seconds,
        "machine_busy": campaign.cpu.busy,
        "awards": campaign.awards,
        "awarded_users": campaign.awarded_users,
        "users_granted": campaign.users_granted,
        "verified": campaign.verified,
    }


def read_line(run: dict[str, Any], users: int) -> str:
    verdict = "met" if run["p99"] <= CHARACTER_READ_P99_MS and not run["errors"] else "missed"
    return (
        f"character read, warm cache, {users} users in turn, open loop {run['rate']:g}/s for "
        f"{run['seconds']:g} s: n={run['n']}  errors={run['errors']}  p50 {run['p50']:.1f} ms  "
        f"p99 {run['p99']:.1f} ms  p99.9 {run['p999']:.1f} ms  {run['throughput']:.1f}/s  "
        f"cache fills {run['cache_fills']}  {_cpu_text(run)}  "
        f"(target p99 ≤ {CHARACTER_READ_P99_MS:g} ms: {verdict})"
    )


def claim_line(run: dict[str, Any]) -> str:
    return (
        f"mission claim, each account once, open loop {run['rate']:g}/s ({run['unmeasured']} "
        f"unmeasured first): n={run['n']}  errors={run['errors']}  p50 {run['p50']:.1f} ms  "
        f"p99 {run['p99']:.1f} ms  p99.9 {run['p999']:.1f} ms  {run['throughput']:.1f}/s  "
        f"statuses {run['statuses']}  awards {run['awards']}  {_cpu_text(run)}"
    )


def _cpu_text(run: dict[str, Any]) -> str:
    return (
        f"CPU a request: character-api {run['server_cpu_ms']:.2f} ms, PostgreSQL "
        f"{run['postgres_cpu_ms']:.2f} ms; machine {run['machine_busy']:.0%} busy"
    )


def second_claim_line(run: dict[str, Any]) -> str:
    return (
        f"second claim, each account again, {run['rate']:g}/s: {run['already_claimed']} of "
        f"{run['n']} answered 409 already_claimed (statuses {run['statuses']})  "
        f"p50 {run['p50']:.1f} ms  p99 {run['p99']:.1f} ms"
    )


def campaign_line(run: dict[str, Any]) -> str:
    tasks = (
        f"chunk task p50 {run['chunk_task_p50_s']:.2f} s, max {run['chunk_task_max_s']:.2f} s, "
        f"{run['chunk_tasks_s']:.1f} s in all"
        if run["chunk_task_p50_s"] is not None
        else "chunk task times not in the worker's log"
    )
    check = "verified" if run["verified"] else "NOT VERIFIED"
    return (
        f"campaign for everyone, {run['users']:,} users, {run['points']} points, character "
        f"worker c={run['concurrency']}: {run['users_granted']:,} granted in "
        f"{run['seconds']:.1f} s = {run['users_per_second']:,.0f} users/s (start_campaign "
        f"{run['start_seconds']:.2f} s, first chunk done at {run['first_chunk_seconds']:.1f} s; "
        f"{run['chunks']} chunks, {tasks}); CPU: worker {run['worker_cpu_s']:.1f} s, its "
        f"PostgreSQL backends {run['postgres_cpu_s']:.1f} s, relay {run['relay_cpu_s']:.1f} s; "
        f"machine {run['machine_busy']:.0%} busy; {check}: {run['awards']:,} awards for "
        f"{run['awarded_users']:,} users"
    )


def record(figures: dict[str, Any]) -> Path:
    """This run's figures into the last `make bench`'s, and its report and README table again."""
    from bench import suite

    return suite.record_section("character", figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=RATE, help="reads a second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds of reads")
    parser.add_argument("--users", type=int, default=USERS, help="accounts reading and claiming")
    parser.add_argument("--claim-rate", type=float, default=CLAIM_RATE, help="claims a second")
    parser.add_argument(
        "--campaign-users", type=int, default=CAMPAIGN_USERS, help="the campaign's (0: none)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=CONCURRENCY, help="the character worker's pool"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the figures into bench/results/latest.{json,md} and the README's table",
    )
    args = parser.parse_args()
    print(
        f"character: character-api, 1 uvicorn worker, GET {CHARACTER_PATH} and "
        f"POST {CHARACTER_PATH}/missions/{MISSION}/claim; a campaign through the character "
        "worker",
        flush=True,
    )
    figures = run_character(
        args.rate,
        args.seconds,
        args.users,
        args.claim_rate,
        args.campaign_users,
        args.concurrency,
        on_line=lambda line: print(line, flush=True),
    )
    if args.record:
        print(f"recorded in {record(figures)}", flush=True)


if __name__ == "__main__":
    main()
