"""Each guarantee of the worker journal on its own, with real processes killed for real
(DESIGN.md sections 4 and 5)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.ids import uuid7
from bunri.journal import TaskRecord, TaskState
from bunri.messaging.tasks import ANALYZE_SCAN, STORE_SCAN_IMAGE
from bunri.scans.events import ScanEvent, stream_key
from tests.scans.crash import (
    Supervised,
    Workers,
    analysis_jpeg,
    marked_photo,
    send_analysis,
    send_store,
    set_status,
    versions,
)
from tests.scans.helpers import purge_queue
from tests.support.pictures import photo
from tests.support.scans import submit, wait_until_done
from tests.support.servers import serve_in_thread
from tests.support.slow_proxy import SlowProxy
from tests.support.users import new_user


async def until(probe: Any, seconds: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := await asyncio.to_thread(probe)):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(every)
    return value


def finished(worker: Supervised, task_id: str) -> TaskRecord | None:
    record = worker.task(task_id)
    return record if record is not None and record.state is TaskState.DONE else None


async def statuses_published(redis: Redis, scan_id: str) -> list[str]:
    """Every progress event of the scan, in order: one per transition that was written."""
    entries = await redis.xrange(stream_key(scan_id)) or []
    return [ScanEvent.from_json((fields or {})[b"e"]).event for _, fields in entries]


async def test_kill_9_mid_storage_completes_the_scan_once(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    s3_endpoint: str,
    auth_url: str,
    redis: Redis,
) -> None:
    # Every S3 request takes 1.5 s: the worker is surely killed in the middle of storing.
    with serve_in_thread(SlowProxy(s3_endpoint, 1.5)) as slow_s3:
        storage = workers.storage(BUNRI_S3_ENDPOINT_URL=slow_s3)
        workers.ai()
        user = await new_user(auth_url)
        accepted = await submit(crash_client, user, photo(seed=21))
        scan_id = accepted.json()["scan_id"]
        task_id = f"{STORE_SCAN_IMAGE}:{scan_id}"
        # The original is in S3, the thumbnail on its way: kill now.
        await until(lambda: step_done(storage, task_id, "original"))
        storage.kill()
        done = await wait_until_done(crash_client, user, scan_id, seconds=90)

    assert done["status"] == "completed", done
    bucket = crash_env["BUNRI_S3_BUCKET"]
    assert versions(s3_endpoint, bucket, scan_id) == {
        f"scans/{scan_id}/original.jpg": 1,
        f"scans/{scan_id}/thumbnail.jpg": 1,
    }
    assert await statuses_published(redis, scan_id) == [
        "storing",
        "stored",
        "analyzing",
        "completed",
    ]
    task = storage.journaled(task_id)
    assert task.state is TaskState.DONE
    assert task.attempts == 2
    assert storage.starts == 2


async def test_kill_9_mid_analysis_completes_the_scan_once(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    auth_url: str,
    redis: Redis,
) -> None:
    # The pool child dies inside the model on the first delivery only.
    ai = workers.ai(BUNRI_FAULT_CRASH_TIMES="1")
    user = await new_user(auth_url)
    scan_id = (await submit(crash_client, user, photo(seed=22))).json()["scan_id"]
    await set_status(clean_database, scan_id, "stored", version=3)
    await asyncio.to_thread(
        send_analysis, crash_env["BUNRI_BROKER_URL"], scan_id, analysis_jpeg(marked=True)
    )
    done = await wait_until_done(crash_client, user, scan_id, seconds=60)

    assert done["status"] == "completed", done
    task_id = f"{ANALYZE_SCAN}:{scan_id}"
    await until(lambda: in_state(ai, task_id, TaskState.DONE))  # acknowledged right after
    task = ai.journaled(task_id)
    assert (task.attempts, task.crashes) == (2, 1)
    assert ai.starts == 1  # the child died, the worker did not
    events = await statuses_published(redis, scan_id)
    assert events.count("completed") == 1
    assert events.count("analyzing") == 1


async def test_a_redelivery_after_completion_writes_nothing_again(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    s3_endpoint: str,
    auth_url: str,
    redis: Redis,
) -> None:
    storage = workers.storage()
    ai = workers.ai()
    user = await new_user(auth_url)
    image = photo(seed=23)
    scan_id = (await submit(crash_client, user, image)).json()["scan_id"]
    first = await wait_until_done(crash_client, user, scan_id)
    assert first["status"] == "completed"

    # The same messages again, as after a crash between the work and its acknowledgement.
    await asyncio.to_thread(send_store, crash_env["BUNRI_BROKER_URL"], scan_id, image)
    await asyncio.to_thread(send_analysis, crash_env["BUNRI_BROKER_URL"], scan_id, analysis_jpeg())
    await until(lambda: storage.log_count("redelivered task already done") == 1)
    await until(lambda: ai.log_count("redelivered task already done") == 1)

    again = (await crash_client.get(f"/api/v1/scans/{scan_id}", headers=user)).json()
    assert again == first
    assert set(versions(s3_endpoint, crash_env["BUNRI_S3_BUCKET"], scan_id).values()) == {1}
    assert (await statuses_published(redis, scan_id)).count("completed") == 1


async def test_a_message_for_a_scan_that_never_existed_is_dropped_without_side_effects(
    workers: Workers, crash_env: dict[str, str], s3_endpoint: str
) -> None:
    # What a request leaves behind when its commit fails after the confirm, or when it loses an
    # Idempotency-Key race: nobody was told 202, so there is nothing to do.
    storage = workers.storage(BUNRI_SCAN_VISIBILITY_TIMEOUT_SECONDS="0.5")
    scan_id = str(uuid7())
    await asyncio.to_thread(send_store, crash_env["BUNRI_BROKER_URL"], scan_id, photo(seed=29))
    record = await until(lambda: finished(storage, f"{STORE_SCAN_IMAGE}:{scan_id}"))
    assert record.outcome == "no_scan"
    assert versions(s3_endpoint, crash_env["BUNRI_S3_BUCKET"], scan_id) == {}


async def test_a_message_in_the_former_json_encoding_is_still_processed(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    auth_url: str,
) -> None:
    # Messages queued (or kept in the outbox) before the upgrade to MessagePack carry the image
    # in base64 inside JSON.
    user = await new_user(auth_url)
    image = photo(seed=31)
    scan_id = (await submit(crash_client, user, image)).json()["scan_id"]
    await purge_queue(crash_env["BUNRI_BROKER_URL"])
    await asyncio.to_thread(
        send_store, crash_env["BUNRI_BROKER_URL"], scan_id, image, legacy_json=True
    )
    workers.storage()
    workers.ai()
    done = await wait_until_done(crash_client, user, scan_id)
    assert done["status"] == "completed", done


async def test_a_killed_inference_process_costs_no_scan(
    workers: Workers, crash_client: httpx.AsyncClient, auth_url: str
) -> None:
    # The pool children's images share forward passes in one inference process (DESIGN.md,
    # issue 7): its death must cost no more than a pool child's.
    workers.storage()
    ai = workers.ai(BUNRI_AI_BATCH_MAX_SIZE="16")  # batching is off by default on CPU
    user = await new_user(auth_url)
    first = (await submit(crash_client, user, photo(seed=33))).json()["scan_id"]
    assert (await wait_until_done(crash_client, user, first))["status"] == "completed"
    os.kill(inference_pid(ai), signal.SIGKILL)
    scan_ids = [
        (await submit(crash_client, user, photo(seed=seed))).json()["scan_id"]
        for seed in range(34, 38)
    ]
    for scan_id in scan_ids:
        assert (await wait_until_done(crash_client, user, scan_id))["status"] == "completed"
    await until(lambda: ai.log_count("inference process serving") == 2)
    assert ai.starts == 1  # the worker itself lived on


def inference_pid(worker: Supervised) -> int:
    # Whatever the log format (JSON, or the console's, coloured): the pid named on that line.
    served = [
        re.search(r"pid\W+(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line))
        for line in worker.log.read_text(errors="replace").splitlines()
        if "inference process serving" in line
    ]
    assert served, "no inference process started"
    assert served[-1] is not None
    return int(served[-1].group(1))


async def test_a_task_that_crashes_its_worker_every_time_is_dead_lettered_as_poison(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    auth_url: str,
) -> None:
    workers.reaper()
    storage = workers.storage()
    workers.ai()
    user = await new_user(auth_url)
    poison = (await submit(crash_client, user, marked_photo())).json()["scan_id"]
    others = [
        (await submit(crash_client, user, photo(seed=seed))).json()["scan_id"]
        for seed in range(30, 36)
    ]
    failed = await wait_until_done(crash_client, user, poison, seconds=120)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "poison"
    task_id = f"{STORE_SCAN_IMAGE}:{poison}"
    # The journal records the dead-lettering just after the scan is marked failed.
    await until(lambda: in_state(storage, task_id, TaskState.DEAD_LETTERED))
    task = storage.journaled(task_id)
    assert (task.state, task.crashes) == (TaskState.DEAD_LETTERED, 3)
    assert storage.starts == 4  # three crashes, then it stayed up

    # The worker keeps serving: what was submitted beside the poison, and what comes after.
    later = (await submit(crash_client, user, photo(seed=40))).json()["scan_id"]
    for scan_id in [*others, later]:
        assert (await wait_until_done(crash_client, user, scan_id, seconds=60))["status"] == (
            "completed"
        )


async def test_results_wait_in_the_journal_while_postgresql_is_down(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    auth_url: str,
) -> None:
    from tests.support.tcp_proxy import tcp_proxy

    user = await new_user(auth_url)
    scan_id = (await submit(crash_client, user, photo(seed=24))).json()["scan_id"]
    await set_status(clean_database, scan_id, "stored", version=3)
    database = crash_env["BUNRI_DATABASE_URL"]
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        ai = workers.ai(BUNRI_DATABASE_URL=database.replace(":5432/", f":{proxy.port}/"))
        proxy.cut()  # PostgreSQL is away for the AI worker
        await asyncio.to_thread(
            send_analysis, crash_env["BUNRI_BROKER_URL"], scan_id, analysis_jpeg()
        )
        task_id = f"{ANALYZE_SCAN}:{scan_id}"
        await until(lambda: in_state(ai, task_id, TaskState.FORWARDING))
        waiting = (await crash_client.get(f"/api/v1/scans/{scan_id}", headers=user)).json()
        assert waiting["status"] == "stored"
        await asyncio.sleep(2)  # flush rounds fail meanwhile

        proxy.open()
        done = await wait_until_done(crash_client, user, scan_id, seconds=30)

    assert done["status"] == "completed", done
    await until(lambda: in_state(ai, task_id, TaskState.DONE))
    task = ai.journaled(task_id)
    assert task.attempts == 1
    assert ai.log_count("classified") == 1  # the model ran once


async def test_an_expired_message_fails_its_scan_as_expired(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    auth_url: str,
) -> None:
    from tests.scans.crash import set_queue_policy

    # No storage worker: the message waits in its queue until its TTL (here 300 ms) runs out.
    await asyncio.to_thread(
        set_queue_policy, crash_env["BUNRI_BROKER_URL"], "scan.image_upload", {"message-ttl": 300}
    )
    workers.reaper()
    user = await new_user(auth_url)
    scan_id = (await submit(crash_client, user, photo(seed=25))).json()["scan_id"]
    failed = await wait_until_done(crash_client, user, scan_id, seconds=30)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "expired"


async def test_a_busy_worker_stays_alive_and_a_frozen_one_does_not(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    s3_endpoint: str,
    auth_url: str,
) -> None:
    import os
    import signal
    import subprocess

    from tests.support.processes import BIN

    def alive(worker: Supervised) -> bool:
        probe = [str(BIN / "bunri"), "worker", "alive", str(worker.heartbeat), "--max-age", "2"]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    with serve_in_thread(SlowProxy(s3_endpoint, 4)) as slow_s3:
        storage = workers.storage(BUNRI_S3_ENDPOINT_URL=slow_s3)
        user = await new_user(auth_url)
        for seed in range(50, 55):
            await submit(crash_client, user, photo(seed=seed))
        await asyncio.sleep(1)
        # Every task is waiting on S3 for seconds: the worker is busy, and alive.
        for _ in range(6):
            assert await asyncio.to_thread(alive, storage)
            await asyncio.sleep(0.5)
        assert storage.process is not None
        os.kill(storage.process.pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(3)
            assert not await asyncio.to_thread(alive, storage)
        finally:
            os.kill(storage.process.pid, signal.SIGCONT)
        await until(lambda: alive(storage), seconds=10)


def step_done(worker: Supervised, task_id: str, step: str) -> bool:
    task = worker.task(task_id)
    return task is not None and bool(task.steps.get(step))


def in_state(worker: Supervised, task_id: str, state: TaskState) -> bool:
    task = worker.task(task_id)
    return task is not None and task.state is state


async def test_a_broker_outage_mid_storage_is_outlived_without_a_second_write(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    s3_endpoint: str,
    auth_url: str,
) -> None:
    from tests.support.tcp_proxy import tcp_proxy

    broker = crash_env["BUNRI_BROKER_URL"]
    with (
        serve_in_thread(SlowProxy(s3_endpoint, 1.0)) as slow_s3,
        tcp_proxy("127.0.0.1", 5672) as proxy,
    ):
        storage = workers.storage(
            BUNRI_S3_ENDPOINT_URL=slow_s3,
            BUNRI_BROKER_URL=broker.replace(":5672/", f":{proxy.port}/"),
        )
        workers.ai()
        user = await new_user(auth_url)
        scan_id = (await submit(crash_client, user, photo(seed=26))).json()["scan_id"]
        task_id = f"{STORE_SCAN_IMAGE}:{scan_id}"
        await until(lambda: step_done(storage, task_id, "original"))
        proxy.cut()  # the broker goes away while the task stores: its hand-off cannot be sent
        await asyncio.sleep(4)
        proxy.open()
        done = await wait_until_done(crash_client, user, scan_id, seconds=90)

    assert done["status"] == "completed", done
    assert set(versions(s3_endpoint, crash_env["BUNRI_S3_BUCKET"], scan_id).values()) == {1}
    task = storage.journaled(task_id)
    assert task.state is TaskState.DONE
    assert task.attempts >= 2  # given back during the outage, resumed after it
    assert storage.starts == 1


async def test_a_rejected_message_fails_its_scan_as_rejected(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    auth_url: str,
) -> None:
    import aio_pika

    workers.reaper()
    user = await new_user(auth_url)
    scan_id = (await submit(crash_client, user, photo(seed=27))).json()["scan_id"]
    connection = await aio_pika.connect(crash_env["BUNRI_BROKER_URL"])
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue("scan.image_upload", ensure=False)
        message = await queue.get(no_ack=False, timeout=10)
        await message.reject(requeue=False)  # RabbitMQ dead-letters it: reason "rejected"
    failed = await wait_until_done(crash_client, user, scan_id, seconds=30)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "rejected"


async def test_a_payload_that_kills_pool_children_is_poison_and_the_pool_serves_on(
    workers: Workers,
    crash_client: httpx.AsyncClient,
    crash_env: dict[str, str],
    clean_database: AsyncEngine,
    auth_url: str,
) -> None:
    workers.reaper()
    ai = workers.ai()
    user = await new_user(auth_url)
    poison, healthy = [
        (await submit(crash_client, user, photo(seed=seed))).json()["scan_id"] for seed in (28, 29)
    ]
    for scan_id in (poison, healthy):
        await set_status(clean_database, scan_id, "stored", version=3)
    broker = crash_env["BUNRI_BROKER_URL"]
    await asyncio.to_thread(send_analysis, broker, poison, analysis_jpeg(marked=True))
    failed = await wait_until_done(crash_client, user, poison, seconds=90)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "poison"
    task = ai.journaled(f"{ANALYZE_SCAN}:{poison}")
    assert (task.state, task.crashes) == (TaskState.DEAD_LETTERED, 3)
    assert ai.starts == 1  # three pool children died; the worker never did

    await asyncio.to_thread(send_analysis, broker, healthy, analysis_jpeg())
    assert (await wait_until_done(crash_client, user, healthy))["status"] == "completed"
