"""Every service and worker serves Prometheus metrics: a scan through the real pipeline shows up
in scan-api's request latency, the storage worker's stage durations, the AI worker's inference
time and batch size (observed in its pool children, served added up by its parent), and both
journals' sizes."""

from __future__ import annotations

import asyncio
import os

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from scan_api.app import create_app
from tests.scans.crash import set_queue_policy
from tests.scans.helpers import scan_api_client
from tests.support.backends import fresh_vhost
from tests.support.metrics import sample, scrape, scrape_in_process
from tests.support.observed_stack import ObservedStack
from tests.support.pictures import photo
from tests.support.scans import proxied_broker, scan_api_on, scan_settings, wait_completed
from tests.support.users import new_user


async def test_a_scan_shows_in_every_process_metrics(observed_stack: ObservedStack) -> None:
    user = await new_user(observed_stack.auth_url)
    async with httpx.AsyncClient(base_url=observed_stack.scan_api_url, timeout=30) as client:
        accepted = await client.post(
            "/api/v1/scans", headers=user, files={"image": ("p.jpg", photo(seed=31), "image/jpeg")}
        )
    assert accepted.status_code == 202, accepted.text
    await wait_completed(observed_stack.scan_api_url, user, accepted.json()["scan_id"])

    scan_api = scrape(observed_stack.scan_api.metrics_url)
    submitted = {"method": "POST", "route": "/api/v1/scans", "status": "202"}
    assert sample(scan_api, "bunri_http_request_duration_seconds_count", **submitted) >= 1
    assert sample(scan_api, "bunri_http_request_duration_seconds_sum", **submitted) > 0
    # The route template, never the raw path: polling the scan is one series.
    polled = {"method": "GET", "route": "/api/v1/scans/{scan_id}", "status": "200"}
    assert sample(scan_api, "bunri_http_request_duration_seconds_count", **polled) >= 1
    assert not any("/api/v1/scans/0" in str(labels) for _, labels in scan_api)
    assert sample(scan_api, "bunri_messages_published_total", queue="scan.image_upload") >= 1
    assert sample(scan_api, "bunri_publish_confirm_seconds_count", queue="scan.image_upload") >= 1

    storage = scrape(observed_stack.storage.metrics_url)
    for stage in ("normalize", "store", "hand_off"):
        assert sample(storage, "bunri_scan_stage_duration_seconds_count", stage=stage) >= 1, stage
        assert sample(storage, "bunri_scan_stage_duration_seconds_sum", stage=stage) > 0, stage
    stored = {"task": "scan.store_image", "outcome": "stored"}
    assert sample(storage, "bunri_worker_task_duration_seconds_count", **stored) >= 1
    assert sample(storage, "bunri_messages_published_total", queue="scan.ai_analysis") >= 1
    assert sample(storage, "bunri_journal_tasks", state="done") >= 1
    assert sample(storage, "bunri_journal_file_bytes", file="database") > 0

    # Classification runs only in the AI worker's pool children; its parent serves /metrics.
    ai = scrape(observed_stack.ai.metrics_url)
    assert sample(ai, "bunri_model_inference_seconds_count", backend="clip") >= 1
    assert sample(ai, "bunri_model_inference_seconds_sum", backend="clip") > 0
    assert sample(ai, "bunri_model_batch_size_sum", backend="clip") >= 1
    assert sample(ai, "bunri_scan_stage_duration_seconds_count", stage="classify") >= 1
    assert sample(ai, "bunri_scans_completed_total") >= 1
    analyzed = {"task": "scan.analyze", "outcome": "completed"}
    assert sample(ai, "bunri_worker_task_duration_seconds_count", **analyzed) >= 1
    assert sample(ai, "bunri_journal_tasks", state="done") >= 1
    assert sample(ai, "bunri_journal_file_bytes", file="database") > 0
    children = {
        int(name.rsplit("_", 1)[1].removesuffix(".db"))
        for name in os.listdir(observed_stack.ai_multiprocess_dir)
        if name.startswith("histogram_")
    }
    assert len(children) >= 2, children  # the parent and at least one child wrote figures


def test_workers_answer_health_from_their_heartbeat(observed_stack: ObservedStack) -> None:
    for process in (observed_stack.storage, observed_stack.ai):
        base = process.metrics_url.removesuffix("/metrics")
        health = httpx.get(f"{base}/healthz", timeout=5)
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert health.json()["heartbeat_age_seconds"] < 60
        assert httpx.get(f"{base}/nothing", timeout=5).status_code == 404


async def test_a_full_queue_counts_as_a_publish_failure(
    pipeline_env: dict[str, str], user: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> None:
    with fresh_vhost("ops_full") as vhost:
        app = create_app(scan_settings(pipeline_env, broker_url=vhost))
        async with scan_api_client(app) as client:
            await asyncio.to_thread(set_queue_policy, vhost, "scan.image_upload", {"max-length": 0})
            before = await scrape_in_process(client)
            refused = await client.post(
                "/api/v1/scans",
                headers=user,
                files={"image": ("p.jpg", photo(seed=5), "image/jpeg")},
            )
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "queue_full", refused.text
            after = await scrape_in_process(client)
    full = {"queue": "scan.image_upload", "reason": "queue_full"}
    assert sample(after, "bunri_publish_failures_total", **full) == (
        sample(before, "bunri_publish_failures_total", **full) + 1
    )
    refused_route = {"method": "POST", "route": "/api/v1/scans", "status": "503"}
    assert sample(after, "bunri_http_request_duration_seconds_count", **refused_route) == (
        sample(before, "bunri_http_request_duration_seconds_count", **refused_route) + 1
    )


async def test_an_unreachable_broker_counts_the_fallback_to_the_outbox(
    pipeline_env: dict[str, str], user: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> None:
    with (
        fresh_vhost("ops_away") as vhost,
        proxied_broker(vhost, open_now=False) as (_, url),
    ):
        async with scan_api_on(pipeline_env, url) as client:
            before = await scrape_in_process(client)
            accepted = await client.post(
                "/api/v1/scans",
                headers=user,
                files={"image": ("p.jpg", photo(seed=6), "image/jpeg")},
            )
            assert accepted.status_code == 202, accepted.text
            after = await scrape_in_process(client)
    for name, labels in (
        ("bunri_outbox_fallbacks_total", {"queue": "scan.image_upload"}),
        ("bunri_publish_failures_total", {"queue": "scan.image_upload", "reason": "not_connected"}),
    ):
        assert sample(after, name, **labels) == sample(before, name, **labels) + 1, name
