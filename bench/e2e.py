"""End-to-end overhead: from upload to `completed`, through the whole real pipeline.

scan-api, the storage worker (eventlet) and the AI worker (prefork) run as processes against
RabbitMQ, PostgreSQL, Redis and an S3 server (moto) on loopback. The AI worker loads a tiny CLIP
built here, whose inference takes about a millisecond: what remains is the platform's own cost
(queues, image normalisation, S3, state changes, events). Scans are submitted at a fixed rate and
followed on the events channel, so each stage is timed from the moment its event was published.

    .venv/bin/python -m bench.e2e [--rates 5 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import uvloop
from redis.asyncio import Redis

from bench.rawhttp import RawClient, multipart_request
from bench.stack import (
    BIN,
    REDIS_URL,
    base_env,
    bench_vhost,
    migrate,
    process,
    quiet_collector,
    signed_in_headers,
)
from bunri.scans.events import CHANNEL
from tests.support.models import build_tiny_clip
from tests.support.pictures import photo_of_size
from tests.support.processes import wait_for_log
from tests.support.servers import free_port

IMAGE_BYTES = 390 * 1024
AUTH_PORT, SCAN_PORT = 18311, 18312
STAGES = [("queued", "storing"), ("storing", "stored"), ("stored", "analyzing")]
STAGES += [("analyzing", "completed")]


@dataclass
class Timeline:
    submitted: float = 0.0
    moments: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def follow(redis: Redis, timelines: dict[str, Timeline], done: asyncio.Event) -> None:
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        done.set()  # subscribed
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            event = json.loads(message["data"])
            # A worker may be faster than the 202 on its way back: keep events of any scan.
            timeline = timelines.setdefault(event["scan_id"], Timeline())
            timeline.moments.setdefault(event["event"], time.perf_counter())


async def run_rate(
    endpoint: str, request: bytes, rate: float, seconds: float
) -> tuple[dict[str, Timeline], float]:
    timelines: dict[str, Timeline] = {}
    accepted: set[str] = set()
    redis = Redis.from_url(REDIS_URL)
    subscribed = asyncio.Event()
    listener = asyncio.create_task(follow(redis, timelines, subscribed))
    await subscribed.wait()
    client = RawClient(endpoint, request)
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        status, body = await client.exchange()
        if status == 202:
            scan_id = json.loads(body)["scan_id"]
            accepted.add(scan_id)
            timeline = timelines.setdefault(scan_id, Timeline())
            timeline.submitted = scheduled
            timeline.moments.setdefault("queued", time.perf_counter())

    await asyncio.gather(*(one(start + i / rate) for i in range(int(rate * seconds))))
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline and any(  # noqa: ASYNC110 (polls a shared dict)
        not ({"completed", "failed"} & set(timelines[scan_id].moments)) for scan_id in accepted
    ):
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - start
    listener.cancel()
    await client.close()
    await redis.aclose()
    return {scan_id: timelines[scan_id] for scan_id in accepted}, elapsed


@dataclass(frozen=True)
class RateResult:
    """One rate's figures, in ms from each scan's scheduled upload; stages by (begin, end)."""

    rate: float
    completed: int
    failed: int
    unfinished: int
    elapsed: float
    total_ms: list[float]
    stages_ms: dict[tuple[str, str], list[float]]

    def lines(self) -> list[str]:
        lines = [
            f"{self.rate:g} scans/s: {self.completed} completed, {self.failed} failed, "
            f"{self.unfinished} unfinished in {self.elapsed:.1f} s"
        ]
        for name, spans in [("upload -> completed", self.total_ms)] + [
            (f"{begin} -> {end}", spans) for (begin, end), spans in self.stages_ms.items()
        ]:
            if spans:
                lines.append(
                    f"  {name:<24}p50 {statistics.median(spans):7.1f} ms"
                    f"  p99 {percentile(spans, 0.99):7.1f} ms"
                )
        return lines


def summarise(rate: float, timelines: dict[str, Timeline], elapsed: float) -> RateResult:
    completed = [t for t in timelines.values() if "completed" in t.moments]
    failed = sum("failed" in t.moments for t in timelines.values())
    stages = {}
    for begin, end in STAGES:
        spans = [
            (t.moments[end] - t.moments[begin]) * 1000 for t in completed if begin in t.moments
        ]
        stages[(begin, end)] = [span for span in spans if span >= 0]
    return RateResult(
        rate=rate,
        completed=len(completed),
        failed=failed,
        unfinished=len(timelines) - len(completed) - failed,
        elapsed=elapsed,
        total_ms=[(t.moments["completed"] - t.submitted) * 1000 for t in completed],
        stages_ms=stages,
    )


def run_e2e(
    rates: list[float], seconds: float, on_result: Callable[[RateResult], None] | None = None
) -> list[RateResult]:
    """Start the whole pipeline, submit scans at each of `rates` for `seconds`, follow each to
    its end; `on_result` sees each rate's figures as they come."""
    image = photo_of_size(IMAGE_BYTES)
    results = []
    with tempfile.TemporaryDirectory() as scratch, bench_vhost() as broker, ExitStack() as stack:
        logs = Path(scratch)
        s3_url = f"http://127.0.0.1:{free_port()}"
        env = base_env(broker, logs) | {
            "BUNRI_AUTH_API_PORT": str(AUTH_PORT),
            "BUNRI_SCAN_API_PORT": str(SCAN_PORT),
            "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json",
            "BUNRI_S3_BUCKET": "bunri-bench",
            "BUNRI_S3_ENDPOINT_URL": s3_url,
            "BUNRI_S3_ACCESS_KEY_ID": "bench",
            "BUNRI_S3_SECRET_ACCESS_KEY": "bench",
            "BUNRI_CLASSIFIER_BACKEND": "clip",
            "BUNRI_CLIP_MODEL": str(build_tiny_clip(logs / "tiny-clip")),
            "BUNRI_MODEL_OFFLINE": "true",
            "BUNRI_LOG_LEVEL": "INFO",
        }
        migrate(env)
        moto = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", s3_url.rsplit(":", 1)[1]]
        stack.enter_context(process(moto, env, logs / "s3.log", f"{s3_url}/moto-api/"))
        boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket="bunri-bench")
        auth_url = f"http://127.0.0.1:{AUTH_PORT}"
        scan_url = f"http://127.0.0.1:{SCAN_PORT}"
        stack.enter_context(
            process([str(BIN / "bunri-auth-api")], env, logs / "auth.log", f"{auth_url}/healthz")
        )
        stack.enter_context(
            process([str(BIN / "bunri-scan-api")], env, logs / "scan.log", f"{scan_url}/readyz")
        )
        for worker in ("bunri-storage-worker", "bunri-ai-worker"):
            log = logs / f"{worker}.log"
            child = stack.enter_context(process([str(BIN / worker)], env, log))
            wait_for_log(log, " ready.", child, 120)
        headers = signed_in_headers(auth_url)
        endpoint = f"{scan_url}/api/v1/scans"
        request = multipart_request(endpoint, headers, "image", "photo.jpg", image, "image/jpeg")
        quiet_collector()
        # Unmeasured: the first scans open connection pools and run the model's first inference.
        uvloop.run(run_rate(endpoint, request, 5.0, 2.0))
        for rate in rates:
            result = summarise(rate, *uvloop.run(run_rate(endpoint, request, rate, seconds)))
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[5.0, 20.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"end to end: {IMAGE_BYTES // 1024} KB JPEG, tiny CLIP, real workers", flush=True)
    run_e2e(args.rates, args.seconds, lambda result: print("\n".join(result.lines()), flush=True))


if __name__ == "__main__":
    main()
