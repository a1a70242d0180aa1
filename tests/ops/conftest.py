"""The observed stack: the real scan-api (its entry point, JSON logs to a file), the storage worker
(eventlet) and the AI worker (prefork, the tiny CLIP) with BUNRI_METRICS_PORT set, on a broker
vhost of their own, against the same PostgreSQL, Redis and S3 server as the scan tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auth_api.app import create_app as create_auth_app
from tests.support.auth import auth_settings
from tests.support.backends import NAMESPACE, WORKER, fresh_vhost, migrated_database
from tests.support.observed_stack import ObservedStack, Process
from tests.support.processes import BIN, worker_process
from tests.support.scans import node_files
from tests.support.servers import free_port, run_process, serve_in_thread


@pytest.fixture(scope="session")
def observed_stack(
    pipeline_env: dict[str, str],
    tiny_clip: Path,
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
