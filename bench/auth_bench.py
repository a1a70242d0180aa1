"""Token verification throughput of `bunri.auth` and login latency of auth-api.

Run with `make bench-auth` (PostgreSQL and Redis running). Prints:
- verifications/s, signature and claims only (no I/O), one core;
- verifications/s with the Redis revocation check, sequential and with concurrent callers;
- login latency (p50/p95/p99) over HTTP against the real `bunri-auth-api` process with
  production argon2id parameters, one client at a time and several at once.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvloop
from redis.asyncio import Redis

from auth_api.keys import generate_private_key_pem, parse_private_key
from auth_api.tokens import AccessTokenIssuer
from bunri.auth import RevocationStore, StaticKeySource, TokenVerifier
from bunri.ids import uuid7

DATABASE_URL = os.environ.get(
    "BUNRI_BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bunri_bench"
)
REDIS_URL = os.environ.get("BUNRI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "a long and unusual passphrase"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench_verification() -> None:
    pem = generate_private_key_pem()
    key = parse_private_key(pem)
    issuer = AccessTokenIssuer(key, issuer="bunri-auth", audience="bunri-api", ttl_seconds=900)
    tokens = [issuer.issue(uuid7(), uuid7()).token for _ in range(1000)]
    redis = Redis.from_url(REDIS_URL, max_connections=64)
    verifier = TokenVerifier(
        StaticKeySource([key.public]),
        RevocationStore(redis),
        issuer="bunri-auth",
        audience="bunri-api",
    )

    started = time.perf_counter()
    for token in tokens:  # each token once: every call checks a signature
        await verifier.verify_signature_and_claims(token)
    first_sight = len(tokens) / (time.perf_counter() - started)
    print(f"verify a new token, signature + claims, no I/O: {first_sight:10,.0f} /s")
    count = 20_000
    started = time.perf_counter()
    for index in range(count):
        await verifier.verify_signature_and_claims(tokens[index % len(tokens)])
    repeat = count / (time.perf_counter() - started)
    print(f"verify a token seen before, no I/O:             {repeat:10,.0f} /s")

    count = 10_000
    started = time.perf_counter()
    for index in range(count):
        await verifier.verify(tokens[index % len(tokens)])
    sequential = count / (time.perf_counter() - started)
    print(f"verify + Redis revocation check, sequential:    {sequential:10,.0f} /s")

    for callers in (16, 64):
        per_caller = 20_000 // callers

        async def caller(offset: int, per_caller: int = per_caller) -> None:
            for index in range(per_caller):
                await verifier.verify(tokens[(offset + index) % len(tokens)])

        started = time.perf_counter()
        await asyncio.gather(*(caller(offset) for offset in range(callers)))
        rate = callers * per_caller / (time.perf_counter() - started)
        print(f"verify + Redis revocation check, {callers:2d} callers:   {rate:10,.0f} /s")
    await redis.aclose()


def bench_login() -> None:
    bin_dir = Path(sys.executable).parent
    port = 18231
    env = {
        **os.environ,
        "BUNRI_ENVIRONMENT": "production",
        "BUNRI_SIGNING_KEY": generate_private_key_pem().decode(),
        "BUNRI_DATABASE_URL": DATABASE_URL,
        "BUNRI_REDIS_URL": REDIS_URL,
        "BUNRI_AUTH_API_PORT": str(port),
        "BUNRI_LOGIN_ATTEMPTS_PER_IP": "1000000",
        "BUNRI_LOGIN_FAILURES_PER_ACCOUNT": "1000000",
        "BUNRI_SIGNUPS_PER_IP": "1000000",
        "BUNRI_LOG_LEVEL": "WARNING",
    }
    subprocess.run([bin_dir / "bunri", "db", "upgrade"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([bin_dir / "bunri-auth-api"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            email = f"bench-{uuid7().hex}@example.com"
            body = {"email": email, "password": PASSWORD}
            client.post("/api/v1/auth/signup", json=body | {"nickname": "bench"}).raise_for_status()
            for _ in range(3):
                client.post("/api/v1/auth/login", json=body).raise_for_status()
            samples = []
            for _ in range(40):
                started = time.perf_counter()
                client.post("/api/v1/auth/login", json=body).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            print(
                "login, argon2id m=19MiB t=2 p=1, 1 client:    "
                f"p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"
                f"  p99 {percentile(samples, 0.99):6.1f} ms"
            )
        uvloop.run(_concurrent_logins(url, body, clients=8, per_client=10))
    finally:
        server.terminate()
        server.wait()


async def _concurrent_logins(url: str, body: dict[str, str], clients: int, per_client: int) -> None:
    samples: list[float] = []

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            for _ in range(per_client):
                started = time.perf_counter()
                response = await client.post("/api/v1/auth/login", json=body)
                response.raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    print(
        f"login, {clients} concurrent clients:                "
        f"p50 {statistics.median(samples):6.1f} ms  p95 {percentile(samples, 0.95):6.1f} ms"
        f"  p99 {percentile(samples, 0.99):6.1f} ms  ({len(samples) / elapsed:.1f} logins/s)"
    )


def main() -> None:
    print(f"bunri.auth benchmark on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    uvloop.run(bench_verification())  # the event loop uvicorn runs the services on
    bench_login()


if __name__ == "__main__":
    main()
