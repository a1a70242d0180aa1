"""The storage worker's eventlet pool overlaps S3 I/O: many uploads against a slow S3 take about
one round of latency, not the sum of them all."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import Scan, ScanStatus
from tests.support.backends import fresh_vhost
from tests.support.pictures import photo
from tests.support.processes import python_says, worker_process
from tests.support.scans import scan_api_on, submit
from tests.support.servers import serve_in_thread
from tests.support.slow_proxy import SlowProxy

LATENCY = 1.0
SCANS = 24


async def test_uploads_to_a_slow_s3_overlap(
    pipeline_env: dict[str, str],
    s3_endpoint: str,
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    tmp_path: Path,
) -> None:
    slow_s3 = SlowProxy(s3_endpoint, LATENCY)
    with fresh_vhost("overlap") as broker, serve_in_thread(slow_s3) as slow_url:
        env = pipeline_env | {
            "BUNRI_BROKER_URL": broker,
            "BUNRI_S3_ENDPOINT_URL": slow_url,
            "BUNRI_STORAGE_WORKER_CONCURRENCY": "50",
        }
        command = [str(Path(sys.executable).parent / "bunri-storage-worker")]
        with worker_process(command, env=env, log_path=tmp_path / "storage.log"):
            async with scan_api_on(pipeline_env, broker) as client:
                started = time.monotonic()
                for seed in range(SCANS):
                    response = await submit(client, user, photo(320, 240, seed=seed))
                    assert response.status_code == 202
                await wait_until_all_stored(clean_database, SCANS, seconds=60)
                elapsed = time.monotonic() - started
    serial = SCANS * 2 * LATENCY  # two objects a scan, one after the other
    print(
        f"{SCANS} scans, {LATENCY:.1f} s per S3 request: {elapsed:.1f} s "
        f"(serial would be {serial:.0f} s); most requests in flight: {slow_s3.most_in_flight}"
    )
    assert slow_s3.requests >= SCANS * 2
    assert slow_s3.most_in_flight >= SCANS // 2
    assert elapsed < serial / 4


async def wait_until_all_stored(engine: AsyncEngine, expected: int, seconds: float) -> None:
    started = time.monotonic()
    while True:
        async with engine.connect() as connection:
            statuses = (await connection.execute(select(Scan.status))).scalars().all()
        if len(statuses) == expected and all(status is ScanStatus.STORED for status in statuses):
            return
        if time.monotonic() - started > seconds:
            pytest.fail(f"not all stored after {seconds} s: {sorted(statuses)}")
        await asyncio.sleep(0.1)


PG_SLEEPS = """
import eventlet
eventlet.monkey_patch()
import os, sys, time
import psycopg
url = sys.argv[1]
def sleep_in_postgres(_):
    with psycopg.connect(url) as connection:
        connection.execute("SELECT pg_sleep(0.5)")
started = time.monotonic()
list(eventlet.GreenPool(10).imap(sleep_in_postgres, range(10)))
print(time.monotonic() - started)
"""


@pytest.mark.parametrize(("wait_function", "cooperative"), [("wait_select", True), (None, False)])
def test_psycopg_waits_cooperatively_under_eventlet_only_with_wait_select(
    database_url: str, wait_function: str | None, cooperative: bool
) -> None:
    """Why the storage worker sets PSYCOPG_WAIT_FUNC: psycopg's default C wait blocks the hub
    (it detects gevent's patching, not eventlet's), so ten queries would run one by one."""
    import os

    env = {key: value for key, value in os.environ.items() if key != "PSYCOPG_WAIT_FUNC"}
    if wait_function:
        env["PSYCOPG_WAIT_FUNC"] = wait_function
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    elapsed = float(python_says(PG_SLEEPS, url, env=env))
    assert (elapsed < 2.0) is cooperative, elapsed
