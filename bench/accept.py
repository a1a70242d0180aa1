"""The accept path: POST /api/v1/scans with a 390 KB JPEG, from upload to 202.

Open loop at fixed rates (requests start on schedule whether or not earlier ones finished, and
latency counts from the scheduled start, so a slow server cannot hide its queueing), then a
closed loop of concurrent clients for the most it can take. The real scan-api process serves it
(uvicorn, one worker) with the real auth-api for tokens, RabbitMQ, PostgreSQL and Redis.

    .venv/bin/python -m bench.accept [--seconds 10] [--rates 10 30 100] [--clients 50 (0: none)]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from bench.rawhttp import RawClient, multipart_request
from bench.stack import BIN, base_env, bench_vhost, migrate, process, purge, signed_in_headers
from tests.support.pictures import photo_of_size

IMAGE_BYTES = 390 * 1024
AUTH_PORT, SCAN_PORT = 18301, 18302


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


async def open_loop(client: RawClient, rate: float, seconds: float) -> Result:
    first = await client.send()  # a connection and the JWKS cache
    if first != 202:
        raise SystemExit(f"scan-api answered {first} to the first upload; see its log")
    # Two seconds at the rate first, unmeasured: connection pools grow to the load, as they have
    # on a server that has been up for a while.
    await _scheduled(client, rate, 2.0)
    latencies, errors, elapsed = await _scheduled(client, rate, seconds)
    return Result(f"open loop {rate:g}/s", latencies, errors, elapsed)


async def _scheduled(
    client: RawClient, rate: float, seconds: float
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if await client.send() == 202:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors += 1

    await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * seconds))))
    return latencies, errors, time.perf_counter() - start


async def closed_loop(client: RawClient, clients: int, seconds: float) -> Result:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if await client.send() == 202:
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    return Result(f"closed loop, {clients} clients", latencies, errors, time.perf_counter() - start)


async def measure(
    loop: Callable[[RawClient, Any, float], Awaitable[Result]],
    endpoint: str,
    request: bytes,
    load: Any,
    seconds: float,
) -> Result:
    client = RawClient(endpoint, request)
    try:
        return await loop(client, load, seconds)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rates", type=float, nargs="*", default=[10.0, 30.0, 100.0])
    args = parser.parse_args()
    image = photo_of_size(IMAGE_BYTES)
    print(
        f"accept path: {len(image) / 1024:.0f} KB JPEG, scan-api with 1 uvicorn worker", flush=True
    )
    with tempfile.TemporaryDirectory() as scratch, bench_vhost() as broker:
        logs = Path(scratch)
        env = base_env(broker, logs) | {
            "BUNRI_AUTH_API_PORT": str(AUTH_PORT),
            "BUNRI_SCAN_API_PORT": str(SCAN_PORT),
            "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json",
        }
        migrate(env)
        auth_url = f"http://127.0.0.1:{AUTH_PORT}"
        scan_url = f"http://127.0.0.1:{SCAN_PORT}"
        with (
            process([str(BIN / "bunri-auth-api")], env, logs / "auth.log", f"{auth_url}/healthz"),
            process([str(BIN / "bunri-scan-api")], env, logs / "scan.log", f"{scan_url}/readyz"),
        ):
            headers = signed_in_headers(auth_url)
            endpoint = f"{scan_url}/api/v1/scans"
            request = multipart_request(
                endpoint, headers, "image", "photo.jpg", image, "image/jpeg"
            )
            for rate in args.rates:
                result = uvloop.run(measure(open_loop, endpoint, request, rate, args.seconds))
                print(result.line(), flush=True)
                uvloop.run(purge(broker, "scan.image_upload"))
            if args.clients:
                result = uvloop.run(
                    measure(closed_loop, endpoint, request, args.clients, args.seconds)
                )
                print(result.line(), flush=True)


if __name__ == "__main__":
    main()
