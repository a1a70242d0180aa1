"""Bringing up the chaos run's whole pipeline on loopback: the private PostgreSQL and RabbitMQ, a
Redis database and a versioned S3 bucket of its own, auth-api and scan-api, and the supervised
workers: storage, AI and character (and the reaper, where the checkout has one). Everything
started is registered on the given ExitStack, which stops it in reverse order."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench.chaos_processes import Supervised
from bench.chaos_services import PrivatePostgres, PrivateRabbit, versioned_bucket
from bench.chaos_submit import CRASH_MARKER
from bench.stack import BIN, migrate, process
from tests.support.models import build_tiny_clip
from tests.support.servers import free_port

log = logging.getLogger("chaos")

REDIS_URL = "redis://127.0.0.1:6379/13"  # the shared Redis; this database is flushed at start
BUCKET = "bunri-chaos"
S3_KEYS = {"BUNRI_S3_ACCESS_KEY_ID": "chaos", "BUNRI_S3_SECRET_ACCESS_KEY": "chaos"}
WORKER_READY_SECONDS = 180.0


@dataclass(frozen=True)
class Infrastructure:
    env: dict[str, str]
    rabbit: PrivateRabbit
    postgres: PrivatePostgres
    s3: Any


@dataclass(frozen=True)
class Stack:
    infra: Infrastructure
    auth_url: str
    scan_url: str
    storage: Supervised
    ai: Supervised
    character: Supervised

    @property
    def workers(self) -> tuple[Supervised, ...]:
        return (self.storage, self.ai, self.character)


def start_stack(stack: ExitStack, run_dir: Path, poison: int) -> Stack:
    infra = start_infrastructure(stack, run_dir)
    auth_url, scan_url = start_apps(stack, infra.env, run_dir)
    storage, ai, character = start_workers(stack, infra.env, run_dir, poison)
    return Stack(infra, auth_url, scan_url, storage, ai, character)


def base_env(rabbit: PrivateRabbit, postgres: PrivatePostgres, run_dir: Path) -> dict[str, str]:
    auth_port, scan_port, s3_port = free_port(), free_port(), free_port()
    return {
        **os.environ,
        "BUNRI_ENVIRONMENT": "development",
        "BUNRI_STATE_DIR": str(run_dir / "data" / "state"),
        "BUNRI_DATABASE_URL": postgres.url,
        "BUNRI_REDIS_URL": REDIS_URL,
        "BUNRI_BROKER_URL": rabbit.url,
        "BUNRI_LOG_LEVEL": "INFO",
        "BUNRI_AUTH_API_PORT": str(auth_port),
        "BUNRI_SCAN_API_PORT": str(scan_port),
        "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
        # One sign-in serves the whole run, however long it is.
        "BUNRI_ACCESS_TOKEN_TTL_SECONDS": str(24 * 3600),
        # One person sends the run's thousand scans.
        "BUNRI_SCAN_BURST": "1000000",
        "BUNRI_SCANS_IN_FLIGHT_PER_USER": "1000000",
        "BUNRI_S3_BUCKET": BUCKET,
        "BUNRI_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "BUNRI_S3_REGION": "us-east-1",
        **S3_KEYS,
    }


def start_infrastructure(stack: ExitStack, run_dir: Path) -> Infrastructure:
    data = run_dir / "data"
    postgres = PrivatePostgres(data, run_dir)
    postgres.init()
    stack.callback(postgres.close)
    postgres.start()
    rabbit = PrivateRabbit(data, run_dir)
    stack.callback(rabbit.close)
    rabbit.start()
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = base_env(rabbit, postgres, run_dir)
    migrate(env)
    s3_url = env["BUNRI_S3_ENDPOINT_URL"]
    moto = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", s3_url.rsplit(":", 1)[1]]
    stack.enter_context(process(moto, env, run_dir / "s3.log", f"{s3_url}/moto-api/"))
    return Infrastructure(env, rabbit, postgres, versioned_bucket(s3_url, BUCKET, S3_KEYS))


def start_apps(stack: ExitStack, env: dict[str, str], run_dir: Path) -> tuple[str, str]:
    """auth-api and scan-api, which the chaos leaves alone (they live through the outages)."""
    auth_url = f"http://127.0.0.1:{env['BUNRI_AUTH_API_PORT']}"
    scan_url = f"http://127.0.0.1:{env['BUNRI_SCAN_API_PORT']}"
    auth = [str(BIN / "bunri-auth-api")]
    stack.enter_context(process(auth, env, run_dir / "auth-api.log", f"{auth_url}/healthz"))
    scan = [str(BIN / "bunri-scan-api")]
    stack.enter_context(process(scan, env, run_dir / "scan-api.log", f"{scan_url}/readyz"))
    return auth_url, scan_url


def start_workers(
    stack: ExitStack, env: dict[str, str], run_dir: Path, poison: int
) -> tuple[Supervised, Supervised, Supervised]:
    storage_env = worker_env(env, run_dir, "storage-worker")
    if poison:
        storage_env["BUNRI_FAULT_CRASH_MARKER"] = CRASH_MARKER.decode()
    ai_env = worker_env(env, run_dir, "ai-worker") | {
        "BUNRI_CLASSIFIER_BACKEND": "clip",
        "BUNRI_CLIP_MODEL": str(build_tiny_clip(run_dir / "data" / "tiny-clip")),
        "BUNRI_MODEL_OFFLINE": "true",
        # Two cores: more pool children would only queue for them.
        "BUNRI_AI_WORKER_CONCURRENCY": "2",
    }
    # Points for each completed scan, from the scan.completed events scan-api's outbox relay
    # publishes; two pool children, so that one of them can be killed alone.
    character_env = worker_env(env, run_dir, "character-worker") | {
        "BUNRI_CHARACTER_WORKER_CONCURRENCY": "2",
    }
    storage_command = [str(BIN / "bunri-storage-worker")]
    storage = supervise(stack, run_dir, "storage-worker", storage_command, storage_env)
    ai = supervise(stack, run_dir, "ai-worker", [str(BIN / "bunri-ai-worker")], ai_env)
    character_command = [str(BIN / "bunri-character-worker")]
    character = supervise(stack, run_dir, "character-worker", character_command, character_env)
    reaper = [str(BIN / "bunri"), "reaper"]
    # The reaper (dead letters to failed scans) is supervised too, where this checkout has one.
    if subprocess.run([*reaper, "--help"], env=env, capture_output=True).returncode == 0:
        supervise(stack, run_dir, "reaper", reaper, worker_env(env, run_dir, "reaper"))
    else:
        log.info("no `bunri reaper` in this checkout: running without one")
    for worker in (storage, ai, character):
        wait_ready(worker, WORKER_READY_SECONDS)
    return storage, ai, character


def worker_env(env: dict[str, str], run_dir: Path, name: str) -> dict[str, str]:
    return env | {
        "BUNRI_JOURNAL_PATH": str(run_dir / f"{name}.journal.sqlite3"),
        "BUNRI_HEARTBEAT_PATH": str(run_dir / f"{name}.heartbeat"),
    }


def supervise(
    stack: ExitStack, run_dir: Path, name: str, command: list[str], env: dict[str, str]
) -> Supervised:
    worker = Supervised(name, command, env, run_dir / f"{name}.log")
    worker.start()
    stack.callback(worker.stop)
    return worker


def wait_ready(worker: Supervised, timeout: float) -> None:
    """Until Celery logs that the worker is ready (its first start: the log is appended to)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.log_path.exists() and " ready." in worker.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{worker.name} not ready after {timeout:.0f} s; see {worker.log_path}")
