"""Every service mounts /healthz, /readyz (checking what it needs: PostgreSQL and Redis) and
/metrics; a service run with several uvicorn workers reports them all from whichever answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.keys import ed25519_pem
from tests.support.metrics import sample, scrape
from tests.support.processes import BIN
from tests.support.servers import free_port, run_process


@pytest.mark.parametrize(
    ("script", "port_variable", "workers_variable"),
    [
        ("bunri-auth-api", "BUNRI_AUTH_API_PORT", "BUNRI_AUTH_API_WORKERS"),
        ("bunri-scan-api", "BUNRI_SCAN_API_PORT", "BUNRI_SCAN_API_WORKERS"),
        ("bunri-chat-api", "BUNRI_CHAT_API_PORT", "BUNRI_CHAT_API_WORKERS"),
        ("bunri-my-api", "BUNRI_MY_API_PORT", "BUNRI_MY_API_WORKERS"),
        ("bunri-character-api", "BUNRI_CHARACTER_API_PORT", "BUNRI_CHARACTER_API_WORKERS"),
    ],
)
def test_services_serve_health_readiness_and_metrics(
    script: str,
    port_variable: str,
    workers_variable: str,
    database_url: str,
    redis_url: str,
    broker_url: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        port_variable: str(port),
        # Two processes: a scrape must count the requests both answered.
        workers_variable: "2",
        "BUNRI_STATE_DIR": str(tmp_path / "state"),
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_BROKER_URL": broker_url,
        "BUNRI_SIGNING_KEY": ed25519_pem(),
    }
    with run_process(
        [str(BIN / script)], env=env, ready_url=f"{url}/healthz", log_path=tmp_path / "log"
    ):
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready", "checks": {"postgresql": "ok", "redis": "ok"}}
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(20):  # new connections, spread over both workers
                assert client.get("/healthz", headers={"connection": "close"}).status_code == 200
            metrics = scrape(f"{url}/metrics")
    health = {"method": "GET", "route": "/healthz", "status": "200"}
    assert sample(metrics, "bunri_http_request_duration_seconds_count", **health) >= 20
    assert (tmp_path / "state" / "metrics").is_dir()
