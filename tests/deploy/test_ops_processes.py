"""The ops image's long-running commands as compose runs them, as real processes against real
PostgreSQL and RabbitMQ: `bunri relay` publishes what waits in the outbox, and it and `bunri
reaper` keep the heartbeat their container health check (`bunri worker alive`) reads."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aio_pika
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bunri.db.models import OutboxMessage
from bunri.messaging.outbox import outbox_row
from bunri.messaging.protocol import task_message
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from tests.support.backends import fresh_vhost

BIN = Path(sys.executable).parent


@contextmanager
def running(
    arguments: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`bunri ARGUMENTS` as a child process, stopped with SIGTERM (as `docker stop` does)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(BIN / "bunri"), *arguments],
            env={**os.environ, "BUNRI_LOG_JSON": "false", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def alive(heartbeat: Path, max_age: float = 5) -> bool:
    """The container health check compose runs."""
    probe = subprocess.run(
        [str(BIN / "bunri"), "worker", "alive", str(heartbeat), "--max-age", str(max_age)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return probe.returncode == 0


def wait_until(condition: object, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s; the process said:\n{log.read_text()}")


async def outbox_size(engine: AsyncEngine, task_id: str) -> int:
    """How many outbox rows carry `task_id` (a session's workers may add their own meanwhile)."""
    async with engine.connect() as connection:
        counted = select(func.count()).where(OutboxMessage.task_id == task_id)
        return int((await connection.execute(counted)).scalar_one())


async def test_relay_publishes_a_waiting_outbox_message_to_rabbitmq(
    database_url: str, clean_database: AsyncEngine, tmp_path: Path
) -> None:
    task_id = f"scan-{uuid.uuid4()}"
    message = task_message(
        STORE_SCAN_IMAGE,
        task_id=task_id,
        args=[task_id],
        kwargs={"note": "from the outbox"},
        priority=7,
    )
    async with async_sessionmaker(clean_database)() as session:
        session.add(outbox_row(message))
        await session.commit()
    assert await outbox_size(clean_database, task_id) == 1

    heartbeat = tmp_path / "relay.json"
    log = tmp_path / "relay.log"
    with fresh_vhost("relay") as broker_url:
        env = {
            "BUNRI_ENVIRONMENT": "test",
            "BUNRI_DATABASE_URL": database_url,
            "BUNRI_BROKER_URL": broker_url,
            "BUNRI_HEARTBEAT_PATH": str(heartbeat),
            "BUNRI_HEARTBEAT_INTERVAL_SECONDS": "0.5",
            "BUNRI_OUTBOX_RELAY_INTERVAL_SECONDS": "0.2",
        }
        with running(["relay"], env, log) as relay:
            for _ in range(150):
                if await outbox_size(clean_database, task_id) == 0:
                    break
                await asyncio.sleep(0.2)
            assert await outbox_size(clean_database, task_id) == 0, log.read_text()
            wait_until(lambda: alive(heartbeat), 15, log)

            connection = await aio_pika.connect(broker_url)
            async with connection:
                channel = await connection.channel()
                queue = await channel.get_queue(message.routing_key, ensure=False)
                delivered = await queue.get(timeout=5, fail=True)
                assert delivered is not None
                assert delivered.body == message.body
                assert delivered.headers["id"] == task_id
                assert delivered.headers["task"] == STORE_SCAN_IMAGE
                assert delivered.priority == 7
                assert delivered.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
                await delivered.ack()

            relay.send_signal(signal.SIGTERM)
            assert relay.wait(timeout=15) == 0, log.read_text()
    assert "outbox relayed" in log.read_text()


def test_the_reaper_beats_its_heartbeat_for_the_health_check(
    database_url: str, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "reaper.json"
    log = tmp_path / "reaper.log"
    with fresh_vhost("reaper") as broker_url:
        env = {
            "BUNRI_ENVIRONMENT": "test",
            "BUNRI_DATABASE_URL": database_url,
            "BUNRI_BROKER_URL": broker_url,
            "BUNRI_HEARTBEAT_PATH": str(heartbeat),
            "BUNRI_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        }
        with running(["reaper"], env, log) as reaper:
            assert not alive(heartbeat), "no heartbeat before the reaper's loop turns"
            wait_until(lambda: alive(heartbeat, max_age=3), 30, log)
            first = heartbeat.stat().st_mtime
            wait_until(lambda: heartbeat.stat().st_mtime > first, 10, log)
            reaper.send_signal(signal.SIGTERM)
            assert reaper.wait(timeout=15) == 0, log.read_text()
    time.sleep(3.5)
    assert not alive(heartbeat, max_age=3), "a stopped reaper's heartbeat goes stale"


def test_the_reaper_beats_while_it_waits_for_the_broker(database_url: str, tmp_path: Path) -> None:
    """A broker that is away does not make the reaper look dead: its loop waits and beats."""
    heartbeat = tmp_path / "reaper.json"
    log = tmp_path / "reaper.log"
    env = {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//",  # nothing listens there
        "BUNRI_HEARTBEAT_PATH": str(heartbeat),
        "BUNRI_HEARTBEAT_INTERVAL_SECONDS": "0.5",
    }
    with running(["reaper"], env, log):
        wait_until(lambda: alive(heartbeat, max_age=3), 30, log)
        first = heartbeat.stat().st_mtime
        wait_until(lambda: heartbeat.stat().st_mtime > first, 10, log)
