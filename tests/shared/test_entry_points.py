"""Every deployable has an entry point; the services start and answer health checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import free_port, run_process

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("script", "port_variable"),
    [("bunri-scan-api", "BUNRI_SCAN_API_PORT"), ("bunri-chat-api", "BUNRI_CHAT_API_PORT")],
)
def test_services_start_and_answer_health_checks(
    script: str,
    port_variable: str,
    database_url: str,
    redis_url: str,
    broker_url: str,
    tmp_path: Path,
) -> None:
    import httpx

    port = free_port()
    env = {
        port_variable: str(port),
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
    }
    url = f"http://127.0.0.1:{port}"
    with run_process(
        [str(BIN / script)], env=env, ready_url=f"{url}/healthz", log_path=tmp_path / "log"
    ):
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"


@pytest.mark.parametrize("script", ["bunri-storage-worker", "bunri-ai-worker"])
def test_worker_entry_points_are_installed(script: str) -> None:
    assert (BIN / script).exists()


def test_auth_api_generates_signing_keys() -> None:
    result = subprocess.run(
        [str(BIN / "bunri-auth-api"), "generate-key"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("-----BEGIN PRIVATE KEY-----")
