"""Task entry points: thin shells over `StorageService`, run under the node's journal."""

from __future__ import annotations

import uuid
from typing import Any

import amqp.exceptions
import botocore.exceptions
import redis.exceptions
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from bunri.db.models import Scan
from bunri.journal import TaskRecord
from bunri.logging import get_logger
from bunri.messaging.dead_letters import QUEUE_FULL
from bunri.messaging.protocol import TaskCall, binary_argument
from bunri.messaging.tasks import (
    ANALYZE_SCAN,
    ERASE_ACCOUNT,
    STORE_PROFILE_PHOTO,
    STORE_SCAN_IMAGE,
)
from bunri.messaging.topology import AI_ANALYSIS, DEFAULT_PRIORITY
from bunri.metrics.messaging import CONNECTION_LOST, PUBLISH_FAILURES, queue_metrics
from bunri.metrics.messaging import QUEUE_FULL as QUEUE_FULL_REASON
from bunri.once import once
from bunri.profiles import SyncProfileCache
from bunri.tracing import TRACEPARENT_HEADER, outgoing_traceparent
from bunri.worker.retry import DEPENDENCY_AWAY, retry_while_allowed
from storage_worker.app import (
    app,
    cache_redis_client,
    journal,
    ledger,
    object_store,
    redis_client,
    runner,
    settings,
    writes,
)
from storage_worker.erasure import AccountEraser
from storage_worker.profile_photos import ProfilePhotos, UploadNotVisible
from storage_worker.service import ORIGINAL, THUMBNAIL, StorageService

log = get_logger(__name__)

# Worth another try later: the database, the object store or the broker was briefly away.
TRANSIENT = (
    *DEPENDENCY_AWAY,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
)
# What else an erasure waits out: S3 refusing (throttled, a deletion it reported failed) or
# taking longer than the time limit, Redis away.
ERASURE_TRANSIENT = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    OSError,
    SoftTimeLimitExceeded,
    redis.exceptions.RedisError,
)
# The broker refused the hand-off: `scan.ai_analysis` is full. Also worth waiting for.
REFUSED = (amqp.exceptions.MessageNacked,)


@once
def service() -> StorageService:
    return StorageService(settings, ledger(), object_store(), hand_off, journal)


@once
def profile_photos() -> ProfilePhotos:
    return ProfilePhotos(
        settings,
        ledger().sessions,
        object_store(),
        SyncProfileCache(cache_redis_client()),
        journal,
        service().decode_slots,
    )


@once
def eraser() -> AccountEraser:
    return AccountEraser(
        ledger().sessions, object_store(), redis_client(), cache_redis_client(), journal
    )


def hand_off(scan: Scan, analysis_image: bytes) -> None:
    """Publish the analysis task (confirmed), in the trace of the task handing it off."""
    traceparent = outgoing_traceparent()
    call = TaskCall(ANALYZE_SCAN, scan.id, {"image": analysis_image})
    try:
        app.send_task(
            call.task_name,
            priority=DEFAULT_PRIORITY,
            **call.send_task_options(),
            headers={TRACEPARENT_HEADER: traceparent} if traceparent else None,
        )
    except REFUSED:
        PUBLISH_FAILURES.labels(AI_ANALYSIS.name, QUEUE_FULL_REASON).inc()
        raise
    except TRANSIENT:
        PUBLISH_FAILURES.labels(AI_ANALYSIS.name, CONNECTION_LOST).inc()
        raise
    queue_metrics(AI_ANALYSIS.name).published.inc()


@app.task(
    bind=True,
    name=STORE_SCAN_IMAGE,
    soft_time_limit=60,
    time_limit=90,
    max_retries=settings.storage_task_max_retries,
)
def store_scan_image(
    self: Task[Any, None], scan_id: str, *, image: bytes | str, media_type: str
) -> None:
    runner.run(self, scan_id, lambda task: _store(self, task, uuid.UUID(scan_id), image))


def _store(self: Task[Any, None], task: TaskRecord, scan_id: uuid.UUID, image: bytes | str) -> str:
    try:
        return service().store(task, scan_id, binary_argument(image))
    except (*TRANSIENT, *REFUSED) as exc:
        retry_while_allowed(self, exc)
        if isinstance(exc, REFUSED):
            return _fail(task, QUEUE_FULL, "Analysis is overloaded; please try again.")
        return _fail(
            task, "storage_unavailable", "The image could not be stored; please try again."
        )
    except SoftTimeLimitExceeded:
        return _fail(task, "processing_timeout", "Storing the image took too long.")
    except Exception:
        # A bug: say so on the scan rather than leave it waiting forever.
        log.exception("storage task crashed", scan_id=str(scan_id))
        return _fail(task, "internal_error", "Something went wrong on our side.")


def _fail(task: TaskRecord, code: str, message: str) -> str:
    """Fail the scan, recording the objects this task already stored (none is orphaned)."""
    now = journal.get(task.task_id) or task
    stored = {
        f"{variant}_key": str(now.steps[variant])
        for variant in (ORIGINAL, THUMBNAIL)
        if now.steps.get(variant)
    }
    return writes().fail(task.task_id, uuid.UUID(task.subject), code, message, **stored)


@app.task(
    bind=True,
    name=STORE_PROFILE_PHOTO,
    soft_time_limit=60,
    time_limit=90,
    max_retries=settings.storage_task_max_retries,
)
def store_profile_photo(
    self: Task[Any, None],
    user_id: str,
    *,
    upload: int,
    image: bytes | str | None,
) -> None:
    runner.run(
        self, user_id, lambda task: _store_photo(self, task, uuid.UUID(user_id), upload, image)
    )


def _store_photo(
    self: Task[Any, None],
    task: TaskRecord,
    user_id: uuid.UUID,
    upload: int,
    image: bytes | str | None,
) -> str:
    photos = profile_photos()
    photo = None if image is None else binary_argument(image)
    try:
        return photos.store(task, user_id, upload, photo)
    except UploadNotVisible as exc:
        # A slow commit shows within the retries (minutes); a rolled-back one never does.
        retry_while_allowed(self, exc)
        return "not_committed"
    except TRANSIENT as exc:
        retry_while_allowed(self, exc)
        return photos.fail_for_good(user_id, upload, "storage_unavailable")
    except SoftTimeLimitExceeded:
        return photos.fail_for_good(user_id, upload, "processing_timeout")
    except Exception:
        # A bug: say so on the profile rather than leave the photo processing forever.
        log.exception("profile photo task crashed", user_id=str(user_id))
        return photos.fail_for_good(user_id, upload, "internal_error")


@app.task(
    bind=True,
    name=ERASE_ACCOUNT,
    # A person with years of scans: thousands of prefixes to list and purge.
    soft_time_limit=1800,
    time_limit=1860,
    # An erasure is owed: it tries again every minute or so until it is done, never gives up.
    max_retries=None,
)
def erase_account(self: Task[Any, None], user_id: str, *, erasure_id: str) -> None:
    runner.run(self, user_id, lambda task: _erase(self, task, uuid.UUID(user_id), erasure_id))


def _erase(self: Task[Any, None], task: TaskRecord, user_id: uuid.UUID, erasure_id: str) -> str:
    try:
        return eraser().erase(task, user_id, erasure_id)
    except (*TRANSIENT, *ERASURE_TRANSIENT) as exc:
        # Each step done stays done (the journal): the next attempt goes on from there.
        retry_while_allowed(self, exc)
        raise
