"""Start the pieces a benchmark measures as real processes on loopback, the way production runs
them (uvicorn with uvloop and httptools, Celery workers), against the local PostgreSQL, Redis and
RabbitMQ, in a database and a vhost of the benchmark's own."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent
DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bunri_bench"
REDIS_URL = "redis://127.0.0.1:6379/14"
VHOST = "bunri_bench"
PASSWORD = "a long and unusual passphrase"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, check=False, timeout=60)


@contextmanager
def bench_vhost(name: str = VHOST) -> Iterator[str]:
    rabbitmqctl("delete_vhost", name)
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def base_env(broker_url: str, logs: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BUNRI_ENVIRONMENT": "development",
        "BUNRI_STATE_DIR": str(logs / "state"),
        "BUNRI_DATABASE_URL": DATABASE_URL,
        "BUNRI_REDIS_URL": REDIS_URL,
        "BUNRI_BROKER_URL": broker_url,
        "BUNRI_LOG_LEVEL": "WARNING",
        "BUNRI_LOGIN_ATTEMPTS_PER_IP": "1000000",
        "BUNRI_SIGNUPS_PER_IP": "1000000",
        # The benchmarks send as one person what many people would.
        "BUNRI_SCAN_BURST": "1000000",
        "BUNRI_SCANS_IN_FLIGHT_PER_USER": "1000000",
        "BUNRI_CHAT_BATCH_BURST": "1000000",
    }


@contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path, ready_url: str | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        child = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        if ready_url:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(ready_url, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"{command[0]} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        yield child
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "bunri"), "db", "upgrade"], env=env, check=True, capture_output=True)


def signed_in_headers(auth_url: str) -> dict[str, str]:
    email = f"bench-{time.time_ns()}@example.com"
    with httpx.Client(base_url=auth_url, timeout=30) as client:
        client.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "bench"}
        )
        tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        tokens.raise_for_status()
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


async def purge(broker_url: str, queue: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(broker_url)
    async with connection:
        channel = await connection.channel()
        await (await channel.get_queue(queue, ensure=False)).purge()


def quiet_collector() -> None:
    """Keep the load generator's own garbage collection out of the latencies it measures: a
    full collection over a big heap (bench.suite has torch imported) stalls the event loop for
    100-200 ms, which would show as the server's p99. What exists now is moved out of the
    collector's reach, as a server process does after start-up."""
    gc.collect()
    gc.freeze()


@contextmanager
def collector_paused() -> Iterator[None]:
    """No garbage collection in the load generator while it measures (as `timeit` does): with
    hundreds of client connections alive, one full collection stalls its event loop for
    40-80 ms, which it would count as the server's delay. The garbage of a run's few seconds
    waits for the collection at the end."""
    quiet_collector()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()
