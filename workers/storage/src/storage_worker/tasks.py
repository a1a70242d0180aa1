"""Task entry points: thin shells over `StorageService`."""

from __future__ import annotations

import random
import uuid
from functools import cache
from typing import Any

import botocore.exceptions
import kombu.exceptions
import pybase64
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from bunri.db.models import Scan
from bunri.logging import get_logger
from bunri.messaging.tasks import ANALYZE_SCAN, STORE_SCAN_IMAGE
from bunri.messaging.topology import DEFAULT_PRIORITY
from storage_worker.app import app, ledger, object_store, settings
from storage_worker.service import StorageService

log = get_logger(__name__)

# Worth another try later: the database, the object store or the broker was briefly away.
TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
)


def backoff_seconds(retries: int) -> float:
    """Exponential backoff with full jitter: 1, 2, 4 ... 60 s at most, spread out."""
    return random.uniform(0, min(60.0, 2.0**retries))  # noqa: S311 (jitter, not secrecy)


@cache
def service() -> StorageService:
    return StorageService(settings, ledger(), object_store(), hand_off)


def hand_off(scan: Scan, analysis_image: bytes) -> None:
    app.send_task(
        ANALYZE_SCAN,
        args=[str(scan.id)],
        kwargs={"image": pybase64.b64encode(analysis_image).decode("ascii")},
        task_id=f"{ANALYZE_SCAN}:{scan.id}",
        priority=DEFAULT_PRIORITY,
        argsrepr=f"('{scan.id}',)",
        kwargsrepr=f"{{'image': <{len(analysis_image)} bytes>}}",
    )


@app.task(bind=True, name=STORE_SCAN_IMAGE, soft_time_limit=60, time_limit=90)
def store_scan_image(self: Task[Any, None], scan_id: str, *, image: str, media_type: str) -> None:
    scan_uuid = uuid.UUID(scan_id)
    try:
        service().store(scan_uuid, pybase64.b64decode(image, validate=True))
    except TRANSIENT as exc:
        if self.request.retries >= settings.storage_task_max_retries:
            ledger().fail_by_id(
                scan_uuid, "storage_unavailable", "The image could not be stored; please try again."
            )
            return
        log.warning("storage failed; retrying", scan_id=scan_id, error=repr(exc))
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    except SoftTimeLimitExceeded:
        ledger().fail_by_id(scan_uuid, "processing_timeout", "Storing the image took too long.")
    except Exception:
        # A bug: say so on the scan rather than leave it waiting forever.
        log.exception("storage task crashed", scan_id=scan_id)
        ledger().fail_by_id(scan_uuid, "internal_error", "Something went wrong on our side.")
