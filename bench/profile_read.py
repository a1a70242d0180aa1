"""Profile reads: GET /api/v1/my/profile at a fixed open-loop rate, with the cache warm.

The real my-api process serves it (uvicorn, one worker) against PostgreSQL and Redis on this
machine, with the real auth-api for the token (a new account signed up and signed in, as the other
benchmarks do). One GET first: it creates the profile and warms the cache. Then bench.accept's
open loop: two seconds at the rate unmeasured (connection pools grow to the load, as on a server
that has been up a while), then `--seconds` of requests started on schedule whether or not earlier
ones finished, each latency counted from its scheduled start, so queueing in the server shows.
DESIGN.md's target for the read: p99 ≤ 15 ms.

    .venv/bin/python -m bench.profile_read [--rate 300] [--seconds 20] [--record]

`make bench` runs it too; `--record` puts this run's figures into the last `make bench`'s
(bench/results/latest.json) and writes latest.md and the README's table again.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench.accept import Result, Server, measure, open_loop
from bench.rawhttp import get_request
from bench.report import PROFILE_READ_P99_MS
from bench.stack import (
    BIN,
    base_env,
    bench_vhost,
    collector_paused,
    migrate,
    process,
    quiet_collector,
    signed_in_headers,
)
from tests.support.servers import free_port

RATE = 300.0
SECONDS = 20.0
PROFILE_PATH = "/api/v1/my/profile"


def run_profile_read(rate: float = RATE, seconds: float = SECONDS) -> Result:
    """Start auth-api and my-api, warm the cache with one read, measure reads at `rate` for
    `seconds`, and stop them."""
    quiet_collector()
    auth_port, my_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as folder, bench_vhost() as broker:
        scratch = Path(folder)
        env = base_env(broker, scratch) | {
            "BUNRI_AUTH_API_PORT": str(auth_port),
            "BUNRI_MY_API_PORT": str(my_port),
            "BUNRI_MY_API_WORKERS": "1",
            "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        }
        migrate(env)
        auth = f"http://127.0.0.1:{auth_port}"
        my = f"http://127.0.0.1:{my_port}"
        with (
            process([str(BIN / "bunri-auth-api")], env, scratch / "auth.log", f"{auth}/healthz"),
            process([str(BIN / "bunri-my-api")], env, scratch / "my.log", f"{my}/readyz"),
        ):
            endpoint = f"{my}{PROFILE_PATH}"
            request = get_request(endpoint, signed_in_headers(auth))
            server = Server(endpoint, request, 200, _keep)
            # open_loop sends one request first (the warming read; anything but 200 stops the
            # run), then two seconds unmeasured, then the measured schedule.
            with collector_paused():
                return uvloop.run(measure(open_loop, server, rate, seconds))


def _keep() -> None:
    """Reads leave nothing to clear between runs."""


def figures(result: Result, rate: float, seconds: float) -> dict[str, Any]:
    """What `make bench` keeps of a run (bench/results/latest.json's "profile")."""
    latencies = result.latencies_ms
    return {
        "rate": rate,
        "seconds": seconds,
        "n": len(latencies),
        "errors": result.errors,
        "p50": statistics.median(latencies) if latencies else 0.0,
        "p99": result.percentile(0.99),
        "p999": result.percentile(0.999),
        "throughput": result.throughput,
    }


def line(run: dict[str, Any]) -> str:
    verdict = "met" if run["p99"] <= PROFILE_READ_P99_MS and not run["errors"] else "missed"
    return (
        f"profile read, warm cache, open loop {run['rate']:g}/s for {run['seconds']:g} s: "
        f"n={run['n']}  errors={run['errors']}  p50 {run['p50']:.1f} ms  "
        f"p99 {run['p99']:.1f} ms  p99.9 {run['p999']:.1f} ms  {run['throughput']:.1f}/s  "
        f"(target p99 ≤ {PROFILE_READ_P99_MS:g} ms: {verdict})"
    )


def record(run: dict[str, Any]) -> Path:
    """This run's figures into the last `make bench`'s, and its report and README table again."""
    from bench import suite

    return suite.record_section("profile", run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=RATE, help="requests a second")
    parser.add_argument("--seconds", type=float, default=SECONDS, help="measured seconds")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the figures into bench/results/latest.{json,md} and the README's table",
    )
    args = parser.parse_args()
    print(f"profile read: my-api, 1 uvicorn worker, GET {PROFILE_PATH}", flush=True)
    run = figures(run_profile_read(args.rate, args.seconds), args.rate, args.seconds)
    print(line(run), flush=True)
    if args.record:
        print(f"recorded in {record(run)}", flush=True)


if __name__ == "__main__":
    main()
