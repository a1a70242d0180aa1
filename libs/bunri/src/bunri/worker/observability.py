"""What every worker reports beyond its work: each task's log lines carry its task id, its
subject (`scan_id` or `job_id`) and its trace, continued from the message's `traceparent`; and,
with `BUNRI_METRICS_PORT` set, the main process serves `/metrics` and `/healthz`."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_ready

from bunri.messaging.tasks import TASK_SUBJECTS
from bunri.metrics.journal import JournalCollector
from bunri.metrics.multiprocess import mark_process_dead
from bunri.metrics.server import serve_worker_metrics
from bunri.tracing import TRACEPARENT_HEADER, bound_span, start_span
from bunri.worker.liveness import HEARTBEAT_MAX_AGE_SECONDS, heartbeat_age
from bunri.worker.settings import WorkerSettings

# Where a running task keeps the log context it entered, to leave it when the task ends.
_LOG_SCOPE = "bunri_log_scope"


def observe_worker(app: Celery, settings: WorkerSettings) -> None:
    task_prerun.connect(_enter_task_context, weak=False)
    task_postrun.connect(_leave_task_context, weak=False)
    if settings.metrics_port is not None:
        port = settings.metrics_port

        def serve(**_: object) -> None:
            serve_worker_metrics(
                port,
                heartbeat_age=lambda: heartbeat_age(settings.heartbeat_file),
                max_heartbeat_age=HEARTBEAT_MAX_AGE_SECONDS,
                collectors=[JournalCollector(settings.journal_file)],
            )

        # Once the pool has forked: no child inherits the listening socket.
        worker_ready.connect(serve, weak=False)
        worker_process_shutdown.connect(_forget_child, weak=False)


def _enter_task_context(task: Any, task_id: str, args: Any = None, **_: object) -> None:
    """Celery's `task_prerun`, in the thread (or green thread) that runs the task."""
    request = task.request
    subject = args[0] if args else None
    scope = ExitStack()
    scope.enter_context(
        bound_span(
            start_span(request.get(TRACEPARENT_HEADER)),
            task_id=task_id,
            **{TASK_SUBJECTS.get(task.name, "subject"): subject},
        )
    )
    setattr(request, _LOG_SCOPE, scope)


def _leave_task_context(task: Any, **_: object) -> None:
    scope: ExitStack | None = task.request.get(_LOG_SCOPE)
    if scope is not None:
        scope.close()


def _forget_child(pid: int | None = None, **_: object) -> None:
    """`worker_process_shutdown`, sent by a pool child as it exits."""
    if pid is not None:
        mark_process_dead(pid)
