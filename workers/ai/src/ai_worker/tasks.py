"""Task entry points: thin shells over `AnalysisService`, run under the node's journal."""

from __future__ import annotations

import uuid
from typing import Any

import pybase64
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from ai_worker.app import app, classifier, journal, ledger, runner, settings, writes
from ai_worker.service import AnalysisService
from bunri.journal import TaskRecord
from bunri.logging import get_logger
from bunri.messaging.tasks import ANALYZE_SCAN
from bunri.worker.retry import retry_later

log = get_logger(__name__)

# The database is not among them: a result it cannot take waits in the journal instead.
TRANSIENT = (
    sqlalchemy.exc.TimeoutError,  # no pooled connection free in time
    ConnectionError,
    TimeoutError,
)


@app.task(
    bind=True,
    name=ANALYZE_SCAN,
    soft_time_limit=120,
    time_limit=180,
    max_retries=settings.analysis_task_max_retries,
)
def analyze_scan(self: Task[Any, None], scan_id: str, *, image: str) -> None:
    runner.run(self, scan_id, lambda task: _analyze(self, task, uuid.UUID(scan_id), image))


def _analyze(self: Task[Any, None], task: TaskRecord, scan_id: uuid.UUID, image: str) -> str:
    service = AnalysisService(settings, ledger(), writes(), journal, classifier())
    try:
        return service.analyze(task, scan_id, pybase64.b64decode(image, validate=True))
    except TRANSIENT as exc:
        if self.request.retries < settings.analysis_task_max_retries:
            log.warning("analysis failed; retrying", scan_id=str(scan_id), error=repr(exc))
            retry_later(self, exc, self.request.retries)
        return writes().fail(
            task.task_id,
            scan_id,
            "analysis_unavailable",
            "The scan could not be analysed; please try again.",
        )
    except SoftTimeLimitExceeded:
        return writes().fail(
            task.task_id, scan_id, "processing_timeout", "Analysing the image took too long."
        )
    except Exception:
        log.exception("analysis task crashed", scan_id=str(scan_id))
        return writes().fail(
            task.task_id, scan_id, "internal_error", "Something went wrong on our side."
        )
