"""The observed stack: the real scan-api (its entry point, JSON logs to a file), the storage worker
(eventlet) and the AI worker (prefork, the tiny CLIP) with BUNRI_METRICS_PORT set, on a broker
vhost of their own, against the same PostgreSQL, Redis and S3 server as the scan tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from auth_api.app import create_app as create_auth_app
from tests.conftest import (
    NAMESPACE,
    WORKER,
    auth_settings,
    fresh_vhost,
    migrated_database,
    new_user,
)
from tests.scans.conftest import (  # noqa: F401 (fixtures)
    BIN,
    node_files,
    pipeline_env,
    s3_bucket,
    s3_endpoint,
    tiny_clip,
)
from tests.support.processes import worker_process
from tests.support.servers import free_port, run_process, serve_in_thread


@dataclass(frozen=True)
class Process:
    log: Path
    metrics_url: str


@dataclass(frozen=True)
class ObservedStack:
    scan_api: Process
    storage: Process
    ai: Process
    ai_multiprocess_dir: Path
    auth_url: str

    @property
    def scan_api_url(self) -> str:
        return self.scan_api.metrics_url.removesuffix("/metrics")


@pytest.fixture(scope="session")
def observed_stack(
    pipeline_env: dict[str, str],  # noqa: F811
    tiny_clip: Path,  # noqa: F811
    redis_url: str,
    signing_key: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ObservedStack]:
    """On a database of its own too: its scan-api's outbox relay must not publish what other
    tests' scan-apis leave in theirs (to its own vhost)."""
    folder = tmp_path_factory.mktemp("observed")
    database_url = migrated_database(f"bunri_test_{NAMESPACE}{WORKER}_ops")
    with (
        fresh_vhost("ops") as broker_url,
        serve_in_thread(
            create_auth_app(auth_settings(database_url, redis_url, signing_key))
        ) as auth_url,
    ):
        env = pipeline_env | {
            "BUNRI_DATABASE_URL": database_url,
            "BUNRI_AUTH_JWKS_URL": f"{auth_url}/.well-known/jwks.json",
            "BUNRI_BROKER_URL": broker_url,
            "BUNRI_LOG_JSON": "true",
            "BUNRI_LOG_LEVEL": "INFO",
            "BUNRI_STATE_DIR": str(folder / "state"),
        }
        scan_port, storage_port, ai_port = free_port(), free_port(), free_port()
        scan_url = f"http://127.0.0.1:{scan_port}"
        storage_env = (
            env
            | node_files(folder / "storage")
            | {"BUNRI_METRICS_PORT": str(storage_port), "BUNRI_STORAGE_WORKER_CONCURRENCY": "4"}
        )
        ai_env = (
            env
            | node_files(folder / "ai")
            | {
                "BUNRI_METRICS_PORT": str(ai_port),
                "BUNRI_CLASSIFIER_BACKEND": "clip",
                "BUNRI_CLIP_MODEL": str(tiny_clip),
                "BUNRI_MODEL_OFFLINE": "true",
                "BUNRI_AI_WORKER_CONCURRENCY": "2",
            }
        )
        with (
            run_process(
                [str(BIN / "bunri-scan-api")],
                env=env | {"BUNRI_SCAN_API_PORT": str(scan_port)},
                ready_url=f"{scan_url}/readyz",
                log_path=folder / "scan-api.log",
            ),
            worker_process(
                [str(BIN / "bunri-storage-worker")],
                env=storage_env,
                log_path=folder / "storage.log",
            ),
            worker_process([str(BIN / "bunri-ai-worker")], env=ai_env, log_path=folder / "ai.log"),
        ):
            yield ObservedStack(
                scan_api=Process(folder / "scan-api.log", f"{scan_url}/metrics"),
                storage=Process(folder / "storage.log", f"http://127.0.0.1:{storage_port}/metrics"),
                ai=Process(folder / "ai.log", f"http://127.0.0.1:{ai_port}/metrics"),
                ai_multiprocess_dir=folder / "state" / "metrics" / f"ai-worker-{ai_port}",
                auth_url=auth_url,
            )


@pytest.fixture
async def user(auth_url: str) -> dict[str, str]:
    """A user of the main test database's auth-api (for the scan-apis tests run in process)."""
    return await new_user(auth_url)


# --- Reading what the processes report ---------------------------------------------------------


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """Every sample of a /metrics page over HTTP: (name, labels) → value."""
    return samples_of(httpx.get(url, timeout=10))


async def scrape_in_process(client: httpx.AsyncClient) -> Samples:
    """The same, from an app behind an in-process client (the test process's own figures)."""
    return samples_of(await client.get("/metrics"))


def samples_of(response: httpx.Response) -> Samples:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 if there is none)."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and wanted <= sample_labels
    )


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (Celery's banner and other plain text skipped)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def wait_for_lines(path: Path, seconds: float = 30, **fields: Any) -> list[dict[str, Any]]:
    """The log lines carrying every one of `fields`, once there is at least one."""
    deadline = time.monotonic() + seconds
    while True:
        found = [
            line
            for line in log_lines(path)
            if all(line.get(key) == value for key, value in fields.items())
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


async def wait_completed(
    base_url: str, headers: dict[str, str], scan_id: str, seconds: float = 90
) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = (await client.get(f"/api/v1/scans/{scan_id}", headers=headers)).json()
            if body["status"] in ("completed", "failed"):
                assert body["status"] == "completed", body
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"scan {scan_id} did not finish in {seconds} s")
