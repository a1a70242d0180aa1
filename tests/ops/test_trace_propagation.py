"""A scan's trace, end to end: the caller's `traceparent` is continued by scan-api (answered in
the response), carried in the task message to the storage worker, handed off to the AI worker,
and every hop's JSON log lines carry the trace id with a span of their own whose parent is the
hop before. The outbox keeps a message's trace for the relay."""

from __future__ import annotations

import asyncio
import time

import httpx
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import OutboxMessage
from bunri.tracing import parse_traceparent
from tests.support.backends import fresh_vhost
from tests.support.observed_stack import ObservedStack
from tests.support.pictures import photo
from tests.support.processes import wait_for_lines
from tests.support.scans import count, proxied_broker, queued_messages, scan_api_on, wait_completed
from tests.support.users import new_user

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_one_trace_id_follows_a_scan_through_every_process(
    observed_stack: ObservedStack,
) -> None:
    user = await new_user(observed_stack.auth_url)
    async with httpx.AsyncClient(base_url=observed_stack.scan_api_url, timeout=30) as client:
        accepted = await client.post(
            "/api/v1/scans",
            headers=user | {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            files={"image": ("p.jpg", photo(seed=41), "image/jpeg")},
        )
    assert accepted.status_code == 202, accepted.text
    scan_id = accepted.json()["scan_id"]
    answered = parse_traceparent(accepted.headers["traceparent"])
    assert answered is not None
    assert answered.trace_id == TRACE_ID
    assert answered.span_id != CALLER_SPAN  # scan-api's own span
    await wait_completed(observed_stack.scan_api_url, user, scan_id)

    (accept_line,) = wait_for_lines(
        observed_stack.scan_api.log, event="request", scan_id=scan_id, trace_id=TRACE_ID
    )
    assert accept_line["parent_span_id"] == CALLER_SPAN
    assert accept_line["span_id"] == answered.span_id
    assert accept_line["request_id"] == accepted.headers["x-request-id"]
    assert accept_line["route"] == "/api/v1/scans"

    storage_lines = wait_for_lines(observed_stack.storage.log, trace_id=TRACE_ID)
    assert storage_lines, "no storage worker line carries the trace id"
    for line in storage_lines:
        assert line["scan_id"] == scan_id
        assert line["task_id"] == f"scan.store_image:{scan_id}"
        assert line["parent_span_id"] == answered.span_id
    storage_span = storage_lines[0]["span_id"]
    assert storage_span not in (answered.span_id, CALLER_SPAN)
    assert any(line["event"] == "task ended" for line in storage_lines)

    ai_lines = wait_for_lines(observed_stack.ai.log, trace_id=TRACE_ID, event="task ended")
    assert ai_lines, "the AI worker's task line does not carry the trace id"
    for line in wait_for_lines(observed_stack.ai.log, trace_id=TRACE_ID):
        assert line["scan_id"] == scan_id
        assert line["task_id"] == f"scan.analyze:{scan_id}"
        assert line["parent_span_id"] == storage_span
        assert line["span_id"] not in (storage_span, answered.span_id)
    assert ai_lines[0]["outcome"] == "completed"


async def test_a_request_without_a_valid_traceparent_starts_a_trace(
    observed_stack: ObservedStack,
) -> None:
    async with httpx.AsyncClient(base_url=observed_stack.scan_api_url, timeout=10) as client:
        fresh = await client.get("/healthz")
        broken = await client.get("/healthz", headers={"traceparent": f"00-{'0' * 32}-x-01"})
    for response in (fresh, broken):
        started = parse_traceparent(response.headers["traceparent"])
        assert started is not None
        assert started.trace_id != "0" * 32
    assert fresh.headers["traceparent"] != broken.headers["traceparent"]


async def test_the_outbox_keeps_the_trace_for_the_relayed_message(
    pipeline_env: dict[str, str], auth_url: str, clean_database: AsyncEngine, redis: Redis
) -> None:
    user = await new_user(auth_url)
    with (
        fresh_vhost("ops_outbox") as vhost,
        proxied_broker(vhost, open_now=False) as (proxy, url),
    ):
        async with scan_api_on(pipeline_env, url, outbox_relay_interval_seconds=0.2) as client:
            accepted = await client.post(
                "/api/v1/scans",
                headers=user | {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
                files={"image": ("p.jpg", photo(seed=43), "image/jpeg")},
            )
            assert accepted.status_code == 202, accepted.text
            async with clean_database.connect() as connection:
                (kept,) = (await connection.execute(select(OutboxMessage.headers))).scalars()
            assert kept["traceparent"] == accepted.headers["traceparent"]

            proxy.open()
            await wait_until_relayed(clean_database, seconds=30)
        (relayed,) = await queued_messages(vhost)
    assert relayed.headers["traceparent"] == accepted.headers["traceparent"]


async def wait_until_relayed(engine: AsyncEngine, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while await count(engine, OutboxMessage):
        assert time.monotonic() < deadline, f"the outbox still holds messages after {seconds} s"
        await asyncio.sleep(0.2)
