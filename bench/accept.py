"""The accept path: POST /api/v1/scans with a 390 KB JPEG, from upload to 202.

Open loop at fixed rates (requests start on schedule whether or not earlier ones finished, and
latency counts from the scheduled start, so a slow server cannot hide its queueing), then a
closed loop of concurrent clients for the most it can take. The real scan-api process serves it
(uvicorn, one worker) with the real auth-api for tokens, RabbitMQ, PostgreSQL and Redis.

Beside it, with the same client, photo and loops, two baselines (bench.baselines) say what those
numbers are worth: `naive` is the tutorial recipe (FastAPI, file on disk, SQLAlchemy ORM row,
Celery `.delay()` on Redis; 202), `synchronous` does the whole job in the request (decode, orient,
re-encode, thumbnail, classify; 200). Each target starts its own processes on free ports and
stops them before the next.

    .venv/bin/python -m bench.accept [--targets bunri naive synchronous] [--seconds 10]
        [--rates 10 30 100] [--clients 50 (0: none)]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import uvloop
from redis import Redis

from bench.baselines import (
    BROKER_URL_VARIABLE,
    DATABASE_URL_VARIABLE,
    NAIVE_BROKER_URL,
    NAIVE_DATABASE_URL,
    SYNCHRONOUS_DATABASE_URL,
    UPLOAD_DIR_VARIABLE,
)
from bench.rawhttp import RawClient, multipart_request
from bench.stack import (
    BIN,
    base_env,
    bench_vhost,
    migrate,
    process,
    purge,
    quiet_collector,
    signed_in_headers,
)
from tests.support.pictures import photo_of_size
from tests.support.servers import free_port

IMAGE_BYTES = 390 * 1024
Target = Literal["bunri", "naive", "synchronous"]
TARGETS: tuple[Target, ...] = get_args(Target)
DESCRIPTIONS: dict[Target, str] = {
    "bunri": "scan-api",
    "naive": "FastAPI + ORM + Celery on Redis",
    "synchronous": "the whole job in the request",
}
# The baselines verify no token (see bench.baselines), so any bearer passes; this one is about as
# long as auth-api's access tokens, so that every target reads requests of the same size.
UNVERIFIED_TOKEN = "x" * 700


@dataclass
class Result:
    label: str
    latencies_ms: list[float]
    errors: int
    elapsed: float

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.elapsed

    def line(self) -> str:
        return (
            f"{self.label:<28} n={len(self.latencies_ms):>5}  errors={self.errors:>3}  "
            f"p50 {statistics.median(self.latencies_ms):7.1f} ms  "
            f"p99 {self.percentile(0.99):7.1f} ms  p99.9 {self.percentile(0.999):7.1f} ms  "
            f"{self.throughput:6.1f}/s"
        )


async def open_loop(client: RawClient, rate: float, seconds: float, success: int) -> Result:
    first = await client.send()  # a connection and the JWKS cache (or the baseline's model)
    if first != success:
        raise SystemExit(f"the server answered {first} to the first upload, not {success}")
    # Two seconds at the rate first, unmeasured: connection pools grow to the load, as they have
    # on a server that has been up for a while.
    await _scheduled(client, rate, 2.0, success)
    latencies, errors, elapsed = await _scheduled(client, rate, seconds, success)
    return Result(f"open loop {rate:g}/s", latencies, errors, elapsed)


async def _scheduled(
    client: RawClient, rate: float, seconds: float, success: int
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if await client.send() == success:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors += 1

    await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * seconds))))
    return latencies, errors, time.perf_counter() - start


async def closed_loop(client: RawClient, clients: int, seconds: float, success: int) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if await client.send() == success:
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    return Result(f"closed loop, {clients} clients", latencies, errors, time.perf_counter() - start)


@dataclass
class Server:
    """A target, started and ready: the upload to send it, the status that means it took the
    scan, and how to drop what one run left queued so the next starts from the same state."""

    endpoint: str
    request: bytes
    success: int
    clear: Callable[[], None]


async def measure(
    loop: Callable[[RawClient, Any, float, int], Awaitable[Result]],
    server: Server,
    load: Any,
    seconds: float,
) -> Result:
    client = RawClient(server.endpoint, server.request)
    try:
        return await loop(client, load, seconds, server.success)
    finally:
        await client.close()


def run_accept(
    target: Target,
    rates: list[float],
    clients: int,
    seconds: float,
    *,
    image: bytes | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Start `target`, measure an open loop at each of `rates` and then (unless `clients` is 0) a
    closed loop of `clients`, each for `seconds`, and stop it. `on_result` sees each result as
    it is measured (the runs take a while); `image` defaults to the 390 KB photo."""
    image = image if image is not None else photo_of_size(IMAGE_BYTES)
    results: list[Result] = []
    quiet_collector()

    def record(result: Result) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    with tempfile.TemporaryDirectory() as scratch, STARTERS[target](image, Path(scratch)) as server:
        for rate in rates:
            record(uvloop.run(measure(open_loop, server, rate, seconds)))
            server.clear()
        if clients:
            record(uvloop.run(measure(closed_loop, server, clients, seconds)))
            server.clear()
    return results


@contextmanager
def bunri(image: bytes, scratch: Path) -> Iterator[Server]:
    """scan-api and auth-api (for a real token), on RabbitMQ, PostgreSQL and Redis."""
    auth_port, scan_port = free_port(), free_port()
    with bench_vhost() as broker:
        env = base_env(broker, scratch) | {
            "BUNRI_AUTH_API_PORT": str(auth_port),
            "BUNRI_SCAN_API_PORT": str(scan_port),
            "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        }
        migrate(env)
        auth_url = f"http://127.0.0.1:{auth_port}"
        scan_url = f"http://127.0.0.1:{scan_port}"
        with (
            process(
                [str(BIN / "bunri-auth-api")], env, scratch / "auth.log", f"{auth_url}/healthz"
            ),
            process([str(BIN / "bunri-scan-api")], env, scratch / "scan.log", f"{scan_url}/readyz"),
        ):
            headers = signed_in_headers(auth_url)
            endpoint = f"{scan_url}/api/v1/scans"
            yield Server(
                endpoint,
                multipart_request(endpoint, headers, "image", "photo.jpg", image, "image/jpeg"),
                202,
                lambda: uvloop.run(purge(broker, "scan.image_upload")),
            )


@contextmanager
def naive(image: bytes, scratch: Path) -> Iterator[Server]:
    """bench.baselines.naive_queued, its Redis database flushed before and after."""
    broker = Redis.from_url(NAIVE_BROKER_URL)
    broker.flushdb()
    try:
        settings = {
            DATABASE_URL_VARIABLE: NAIVE_DATABASE_URL,
            BROKER_URL_VARIABLE: NAIVE_BROKER_URL,
        }
        with _baseline("naive_queued", settings, image, scratch, 202) as server:
            yield server
    finally:
        broker.flushdb()
        broker.close()


@contextmanager
def synchronous(image: bytes, scratch: Path) -> Iterator[Server]:
    """bench.baselines.synchronous, with the AI worker's bundled model."""
    settings = {DATABASE_URL_VARIABLE: SYNCHRONOUS_DATABASE_URL}
    with _baseline("synchronous", settings, image, scratch, 200) as server:
        yield server


@contextmanager
def _baseline(
    module: str, settings: dict[str, str], image: bytes, scratch: Path, success: int
) -> Iterator[Server]:
    """A baseline app under uvicorn with one worker, started the way its docstring says, without
    the access log (scan-api writes none at this log level either), its files in `scratch`."""
    port = free_port()
    uploads = scratch / "uploads"
    env = {**os.environ, **settings, UPLOAD_DIR_VARIABLE: str(uploads)}
    command = [sys.executable, "-m", "uvicorn", f"bench.baselines.{module}:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--no-access-log", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}"
    with process(command, env, scratch / f"{module}.log", f"{url}/healthz"):
        endpoint = f"{url}/api/v1/scans"
        headers = {"Authorization": f"Bearer {UNVERIFIED_TOKEN}"}

        def clear() -> None:
            # Only the files: a few thousand rows or small task messages change nothing, but a
            # closed loop can write a gigabyte of photos.
            shutil.rmtree(uploads, ignore_errors=True)
            uploads.mkdir()

        yield Server(
            endpoint,
            multipart_request(endpoint, headers, "image", "photo.jpg", image, "image/jpeg"),
            success,
            clear,
        )


STARTERS: dict[Target, Callable[[bytes, Path], AbstractContextManager[Server]]] = {
    "bunri": bunri,
    "naive": naive,
    "synchronous": synchronous,
}


def printer(target: Target) -> Callable[[Result], None]:
    def show(result: Result) -> None:
        print(f"{target:<12} {result.line()}", flush=True)

    return show


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", nargs="+", choices=TARGETS, default=list(TARGETS))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rates", type=float, nargs="*", default=[10.0, 30.0, 100.0])
    args = parser.parse_args()
    image = photo_of_size(IMAGE_BYTES)
    servers = ", ".join(f"{target}: {DESCRIPTIONS[target]}" for target in args.targets)
    print(
        f"accept path: {len(image) / 1024:.0f} KB JPEG, 1 uvicorn worker each ({servers})",
        flush=True,
    )
    for target in args.targets:
        run_accept(
            target,
            args.rates,
            args.clients,
            args.seconds,
            image=image,
            on_result=printer(target),
        )


if __name__ == "__main__":
    main()
