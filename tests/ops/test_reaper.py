"""The reaper serves /metrics and /healthz on BUNRI_METRICS_PORT, counts the dead letters it
handles by queue, reason and outcome, and logs each in the trace of the request that caused it
(RabbitMQ keeps a dead-lettered message's headers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.scans.crash import set_queue_policy
from tests.support.backends import fresh_vhost
from tests.support.metrics import sample, scrape
from tests.support.pictures import photo
from tests.support.processes import BIN, wait_for_lines, worker_process
from tests.support.scans import scan_api_on, wait_until_done
from tests.support.servers import free_port

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


async def test_an_expired_scan_is_reaped_counted_and_traced(
    pipeline_env: dict[str, str],
    user: dict[str, str],
    clean_database: AsyncEngine,
    redis: Redis,
    tmp_path: Path,
) -> None:
    port = free_port()
    with fresh_vhost("ops_reaper") as vhost:
        env = pipeline_env | {
            "BUNRI_BROKER_URL": vhost,
            "BUNRI_METRICS_PORT": str(port),
            "BUNRI_HEARTBEAT_PATH": str(tmp_path / "heartbeat.json"),
            "BUNRI_LOG_JSON": "true",
        }
        log = tmp_path / "reaper.log"
        async with scan_api_on(pipeline_env, vhost) as client:
            # No worker reads this vhost: the message expires at once and is dead-lettered.
            await asyncio.to_thread(
                set_queue_policy, vhost, "scan.image_upload", {"message-ttl": 1}
            )
            with worker_process(
                [str(BIN / "bunri"), "reaper"], env=env, log_path=log, ready="reaper consuming"
            ):
                accepted = await client.post(
                    "/api/v1/scans",
                    headers=user | {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"},
                    files={"image": ("p.jpg", photo(seed=51), "image/jpeg")},
                )
                assert accepted.status_code == 202, accepted.text
                scan_id = accepted.json()["scan_id"]
                scan = await wait_until_done(client, user, scan_id)
                assert scan["status"] == "failed", scan
                assert scan["error"]["code"] == "expired", scan
                metrics = await asyncio.to_thread(scrape, f"http://127.0.0.1:{port}/metrics")
                async with httpx.AsyncClient(timeout=5) as probe:
                    health = await probe.get(f"http://127.0.0.1:{port}/healthz")
    assert health.status_code == 200, health.text
    reaped = {"queue": "dlq.scan.image_upload", "reason": "expired", "outcome": "failed"}
    assert sample(metrics, "bunri_dead_letters_total", **reaped) == 1
    assert sample(metrics, "bunri_scans_failed_total", code="expired") == 1
    (line,) = wait_for_lines(log, event="dead letter reaped", trace_id=TRACE_ID)
    assert line["scan_id"] == scan_id
    assert line["task_id"] == f"scan.store_image:{scan_id}"
