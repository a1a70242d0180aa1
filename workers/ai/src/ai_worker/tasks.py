"""Task entry points: thin shells over `AnalysisService`, run under the node's journal."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from ai_worker.app import app, classifier, journal, ledger, runner, settings, writes
from ai_worker.chat_answers import BatchAnswerer, ModelFailed
from ai_worker.service import AnalysisService
from bunri.chat.batch import fail_job
from bunri.journal import TaskRecord
from bunri.logging import get_logger
from bunri.messaging.protocol import binary_argument
from bunri.messaging.tasks import ANALYZE_SCAN, ANSWER_CHAT_BATCH
from bunri.worker.durable import DATABASE_UNAVAILABLE
from bunri.worker.retry import retry_while_allowed

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
def analyze_scan(self: Task[Any, None], scan_id: str, *, image: bytes | str) -> None:
    runner.run(self, scan_id, lambda task: _analyze(self, task, uuid.UUID(scan_id), image))


def _analyze(
    self: Task[Any, None], task: TaskRecord, scan_id: uuid.UUID, image: bytes | str
) -> str:
    service = AnalysisService(settings, ledger(), writes(), journal, classifier())
    try:
        return service.analyze(task, scan_id, binary_argument(image))
    except TRANSIENT as exc:
        retry_while_allowed(self, exc)
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


@app.task(
    bind=True,
    name=ANSWER_CHAT_BATCH,
    soft_time_limit=120,
    time_limit=180,
    max_retries=settings.analysis_task_max_retries,
)
def answer_chat_batch(self: Task[Any, None], job_id: str) -> None:
    runner.run(self, job_id, lambda task: _answer(self, uuid.UUID(job_id)))


def _answer(self: Task[Any, None], job_id: uuid.UUID) -> str:
    try:
        return BatchAnswerer(settings, ledger().sessions).answer(job_id)
    except (*TRANSIENT, *DATABASE_UNAVAILABLE, openai.APIConnectionError) as exc:
        retry_while_allowed(self, exc)
        return _fail_job(job_id, "answer_unavailable", "The question could not be answered now.")
    except ModelFailed as exc:
        return _fail_job(job_id, "upstream_refused", str(exc))
    except SoftTimeLimitExceeded:
        return _fail_job(job_id, "processing_timeout", "Answering took too long.")


def _fail_job(job_id: uuid.UUID, code: str, message: str) -> str:
    return f"failed:{code}" if fail_job(ledger().sessions, job_id, code, message) else "finished"
