"""Task entry points: thin shells over `AnalysisService`."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pybase64
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from ai_worker.app import app, classifier, ledger, settings
from ai_worker.service import AnalysisService
from bunri.logging import get_logger
from bunri.messaging.tasks import ANALYZE_SCAN

log = get_logger(__name__)

TRANSIENT = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    ConnectionError,
    TimeoutError,
)


@app.task(bind=True, name=ANALYZE_SCAN, soft_time_limit=120, time_limit=180)
def analyze_scan(self: Task[Any, None], scan_id: str, *, image: str) -> None:
    scan_uuid = uuid.UUID(scan_id)
    service = AnalysisService(settings, ledger(), classifier())
    try:
        service.analyze(scan_uuid, pybase64.b64decode(image, validate=True))
    except TRANSIENT as exc:
        if self.request.retries >= settings.analysis_task_max_retries:
            ledger().fail_by_id(
                scan_uuid,
                "analysis_unavailable",
                "The scan could not be analysed; please try again.",
            )
            return
        log.warning("analysis failed; retrying", scan_id=scan_id, error=repr(exc))
        countdown = random.uniform(0, min(60.0, 2.0**self.request.retries))  # noqa: S311
        raise self.retry(exc=exc, countdown=countdown) from exc
    except SoftTimeLimitExceeded:
        ledger().fail_by_id(scan_uuid, "processing_timeout", "Analysing the image took too long.")
    except Exception:
        log.exception("analysis task crashed", scan_id=scan_id)
        ledger().fail_by_id(scan_uuid, "internal_error", "Something went wrong on our side.")
