"""Fixtures and helpers of the crash tests. A pipeline of their own: workers that a test may
SIGKILL (a supervisor restarts them, as systemd would), on a vhost of the test's own, storing into
an S3 bucket with versioning on (so a second write of a key would show as a second version), and
the reaper as a process."""

from __future__ import annotations

import base64
import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from celery import Celery
from PIL import Image
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.journal import Journal, TaskRecord
from bunri.messaging.tasks import ANALYZE_SCAN, STORE_SCAN_IMAGE, TASK_QUEUES
from bunri.messaging.topology import DEFAULT_PRIORITY, TASK_EXCHANGE
from tests.support.backends import fresh_vhost
from tests.support.processes import BIN, stop_group, wait_for_log
from tests.support.scans import node_files, scan_api_on

CRASH_MARKER = "BUNRI-CRASH-TEST"


class Supervised:
    """A worker process restarted whenever it exits, until `stop()`."""

    def __init__(self, command: list[str], env: dict[str, str], folder: Path) -> None:
        self.command = command
        self.env = env
        self.folder = folder
        self.log = folder / "worker.log"
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    @property
    def journal(self) -> Journal:
        return Journal(Path(self.env["BUNRI_JOURNAL_PATH"]))

    @property
    def heartbeat(self) -> Path:
        return Path(self.env["BUNRI_HEARTBEAT_PATH"])

    def start(self) -> None:
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        ready_before = self._readiness()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + 90
        while self._readiness() == ready_before:
            if self.process.poll() is not None or time.monotonic() > deadline:
                break  # the watcher restarts it
            time.sleep(0.05)

    def _readiness(self) -> int:
        return self.log.read_text(errors="replace").count(" ready.") if self.log.exists() else 0

    def _watch(self) -> None:
        while not self._stopped.is_set():
            assert self.process is not None
            if self.process.poll() is not None and not self._stopped.is_set():
                stop_group(self.process, grace=1)  # its pool children too
                time.sleep(0.5)  # RestartSec
                if not self._stopped.is_set():
                    self._spawn()
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as the OOM killer or a power cut would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._stopped.set()
        if self.process is not None:
            stop_group(self.process)

    def log_count(self, needle: str) -> int:
        return self.log.read_text(errors="replace").count(needle)

    def task(self, task_id: str) -> TaskRecord | None:
        journal = self.journal
        try:
            return journal.get(task_id)
        finally:
            journal.close()

    def journaled(self, task_id: str) -> TaskRecord:
        """The task's journal record, which must exist."""
        task = self.task(task_id)
        assert task is not None, f"{task_id} is not in the journal"
        return task


@pytest.fixture(scope="session")
def versioned_bucket(s3_endpoint: str) -> str:
    bucket = f"bunri-crash-{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}"
    s3 = s3_client(s3_endpoint)
    # Session-scoped in each test folder that imports it: the first of them makes it.
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"}
        )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def versions(endpoint: str, bucket: str, scan_id: str) -> dict[str, int]:
    """How many times each of the scan's objects was written."""
    listed = s3_client(endpoint).list_object_versions(Bucket=bucket, Prefix=f"scans/{scan_id}/")
    counts: dict[str, int] = {}
    for version in listed.get("Versions", []):
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


@pytest.fixture
def crash_vhost() -> Iterator[str]:
    with fresh_vhost("crash") as url:
        yield url


@pytest.fixture
def crash_env(
    pipeline_env: dict[str, str], crash_vhost: str, versioned_bucket: str
) -> dict[str, str]:
    return pipeline_env | {
        "BUNRI_BROKER_URL": crash_vhost,
        "BUNRI_S3_BUCKET": versioned_bucket,
        "BUNRI_FAULT_CRASH_MARKER": CRASH_MARKER,
        "BUNRI_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "BUNRI_JOURNAL_FLUSH_INTERVAL_SECONDS": "0.5",
        "BUNRI_LOG_JSON": "false",
    }


class Workers:
    def __init__(self, env: dict[str, str], folder: Path, tiny_clip: Path) -> None:
        self.env = env
        self.folder = folder
        self.tiny_clip = tiny_clip
        self.running: list[Supervised] = []
        self._reapers: list[subprocess.Popen[bytes]] = []

    def storage(self, **extra: str) -> Supervised:
        return self._start(
            "storage", ["bunri-storage-worker"], {"BUNRI_STORAGE_WORKER_CONCURRENCY": "10", **extra}
        )

    def ai(self, **extra: str) -> Supervised:
        return self._start(
            "ai",
            ["bunri-ai-worker"],
            {
                "BUNRI_CLASSIFIER_BACKEND": "clip",
                "BUNRI_CLIP_MODEL": str(self.tiny_clip),
                "BUNRI_MODEL_OFFLINE": "true",
                "BUNRI_AI_WORKER_CONCURRENCY": "2",
                **extra,
            },
        )

    def reaper(self, **extra: str) -> subprocess.Popen[bytes]:
        folder = self.folder / "reaper"
        folder.mkdir(exist_ok=True)
        log_path = folder / "reaper.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(BIN / "bunri"), "reaper"],
                env={**os.environ, **self.env, **extra},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._reapers.append(process)
        wait_for_log(log_path, "reaper consuming", process, 60)
        return process

    def _start(self, name: str, command: list[str], extra: dict[str, str]) -> Supervised:
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        worker = Supervised([str(BIN / command[0])], self.env | node_files(folder) | extra, folder)
        worker.start()
        self.running.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.running:
            worker.stop()
        for reaper in self._reapers:
            stop_group(reaper)
        self._reapers.clear()


@pytest.fixture
def workers(crash_env: dict[str, str], tiny_clip: Path, tmp_path: Path) -> Iterator[Workers]:
    started = Workers(crash_env, tmp_path, tiny_clip)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def crash_client(
    crash_env: dict[str, str], clean_database: AsyncEngine, redis: Redis
) -> AsyncIterator[httpx.AsyncClient]:
    async with scan_api_on(crash_env, crash_env["BUNRI_BROKER_URL"]) as client:
        yield client


def marked_photo(seed: int = 11) -> bytes:
    """A photo carrying the crash marker in a JPEG comment (which the accept path allows)."""
    from tests.support.pictures import photo

    data = photo(seed=seed)
    comment = CRASH_MARKER.encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]


def analysis_jpeg(marked: bool = False) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 120, 200)).save(buffer, format="JPEG")
    data = buffer.getvalue()
    if marked:
        data = data[:2] + b"\xff\xfe\x00\x12" + CRASH_MARKER.encode() + data[2:]
    return data


def send_analysis(broker_url: str, scan_id: str, image: bytes) -> None:
    """Publish `scan.analyze` for a scan exactly as the storage worker does."""
    _send_task(broker_url, ANALYZE_SCAN, scan_id, {"image": image})


def send_store(broker_url: str, scan_id: str, image: bytes, *, legacy_json: bool = False) -> None:
    """Publish `scan.store_image` for a scan exactly as scan-api does, or as it did before task
    bodies were MessagePack (JSON, the image in base64)."""
    kwargs: dict[str, Any] = {"image": image, "media_type": "image/jpeg"}
    if legacy_json:
        kwargs["image"] = base64.b64encode(image).decode()
    serializer = "json" if legacy_json else "msgpack"
    _send_task(broker_url, STORE_SCAN_IMAGE, scan_id, kwargs, serializer)


def _send_task(
    broker_url: str, task: str, scan_id: str, kwargs: dict[str, Any], serializer: str = "msgpack"
) -> None:
    producer = Celery("test-producer", broker=broker_url)
    producer.conf.broker_transport_options = {"confirm_publish": True}
    producer.conf.task_serializer = serializer
    producer.send_task(
        task,
        args=[scan_id],
        kwargs=kwargs,
        task_id=f"{task}:{scan_id}",
        exchange=TASK_EXCHANGE,
        routing_key=TASK_QUEUES[task].name,
        priority=DEFAULT_PRIORITY,
    )
    producer.close()


async def set_status(engine: AsyncEngine, scan_id: str, status: str, version: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE scans SET status = :status, version = :version WHERE id = :id"),
            {"status": status, "version": version, "id": scan_id},
        )


def set_queue_policy(broker_url: str, queue: str, definition: dict[str, Any]) -> None:
    import json

    vhost = broker_url.rsplit("/", 1)[1]
    subprocess.run(
        [
            "rabbitmqctl",
            "-q",
            "set_policy",
            "-p",
            vhost,
            "test-policy",
            f"^{queue.replace('.', '[.]')}$",
            json.dumps(definition),
            "--apply-to",
            "queues",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    time.sleep(0.5)
