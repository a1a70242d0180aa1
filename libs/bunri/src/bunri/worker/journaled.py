"""How every worker task runs against the node's journal: recorded before its first side effect;
a redelivery of a finished task acknowledged without doing anything; a task that keeps killing its
worker dead-lettered as poison; a retry not mistaken for a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from celery import Celery, Task
from celery.exceptions import Reject, Retry

from bunri.journal import Journal, Outcome, TaskRecord
from bunri.logging import get_logger
from bunri.messaging.dead_letters import DEAD_LETTER_REASON_HEADER, POISON
from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import DEAD_LETTER_EXCHANGE
from bunri.metrics.pipeline import TASK_SECONDS, TASKS_IN_PROGRESS
from bunri.tracing import TRACEPARENT_HEADER, outgoing_traceparent

log = get_logger(__name__)

TaskBody = Callable[[TaskRecord], str]

IN_PROGRESS_WAIT_SECONDS = 120.0


class JournaledRunner:
    def __init__(self, app: Celery, journal: Journal) -> None:
        self._app = app
        self.journal = journal
        # Tasks running in this process (the eventlet worker runs many), each with an event set
        # when it ends.
        self._running_here: dict[str, threading.Event] = {}

    def run(self, task: Task[Any, Any], subject: str, body: TaskBody) -> None:
        """Run `body` (which returns a word for how the task ended) under the journal."""
        task_id = str(task.request.id)
        earlier = self._running_here.get(task_id)
        if earlier is not None:
            # Redelivered after a broker reconnect while the first delivery still runs here: wait
            # for it to end; then the journal says whether anything is left to do.
            log.info("redelivered task still running here; waiting for it", task_id=task_id)
            if not earlier.wait(IN_PROGRESS_WAIT_SECONDS):
                self._give_back(task_id)
        ended = threading.Event()
        self._running_here[task_id] = ended
        started = time.perf_counter()
        outcome = "error"
        in_progress = TASKS_IN_PROGRESS.labels(task.name)
        in_progress.inc()
        try:
            outcome = self._run(task, task_id, subject, body)
        except Retry:
            outcome = "retry"
            raise
        except Reject:
            outcome = "given_back"
            raise
        finally:
            in_progress.dec()
            seconds = time.perf_counter() - started
            TASK_SECONDS.labels(task.name, outcome.split(":", 1)[0]).observe(seconds)
            log.info("task ended", outcome=outcome, duration_ms=round(seconds * 1000, 1))
            ended.set()
            if self._running_here.get(task_id) is ended:
                del self._running_here[task_id]

    def _run(self, task: Task[Any, Any], task_id: str, subject: str, body: TaskBody) -> str:
        """How the task ended: the body's word, or what the journal decided instead."""
        start = self.journal.begin(task_id, task.name, subject)
        record = start.record
        if start.outcome is Outcome.IN_PROGRESS:
            # A duplicate message while another pool child runs the task: come back later, when
            # it has finished (then this copy is a duplicate) or died (then it runs again).
            log.info("task running in another process; given back", task_id=task_id)
            self._give_back(task_id)
        if start.outcome is Outcome.DUPLICATE:
            log.info(
                "redelivered task already done; acknowledged", task_id=task_id, state=record.state
            )
            return "duplicate"
        if start.outcome is Outcome.POISON:
            log.error(
                "task crashed its worker too often; dead-lettered as poison",
                task_id=task_id,
                crashes=record.crashes,
            )
            self._dead_letter(task, crashes=record.crashes)
            self.journal.poisoned(task_id)
            return "poison"
        if record.attempts > 1:
            log.info(
                "task resumed",
                task_id=task_id,
                attempts=record.attempts,
                crashes=record.crashes,
                done=sorted(record.steps),
            )
        try:
            outcome = body(record)
        except Exception as exc:
            # A retry, a message given back, or a bug: whichever delivery comes next runs it.
            self.journal.release(task_id, type(exc).__name__)
            raise
        self.journal.finish(task_id, outcome)
        return outcome

    @staticmethod
    def _give_back(task_id: str) -> NoReturn:
        time.sleep(1)  # a green sleep under eventlet
        raise Reject(f"{task_id} is still running elsewhere", requeue=True)

    def _dead_letter(self, task: Task[Any, Any], *, crashes: int) -> None:
        """The message, as it came, to its queue's dead-letter queue, saying why; the reaper
        then fails its scan. Confirmed before the original is acknowledged."""
        request = task.request
        queue = TASK_QUEUES[task.name]
        with self._app.producer_or_acquire() as producer:
            producer.publish(
                [list(request.args or ()), dict(request.kwargs or {}), {}],
                exchange=DEAD_LETTER_EXCHANGE,
                routing_key=queue.dead_letter_queue,
                serializer="json",
                delivery_mode=2,
                headers={
                    "id": request.id,
                    "task": task.name,
                    DEAD_LETTER_REASON_HEADER: POISON,
                    "x-bunri-crashes": crashes,
                    # The reaper's line about it joins the scan's trace.
                    TRACEPARENT_HEADER: outgoing_traceparent(),
                },
                retry=True,
                retry_policy={"max_retries": 5, "interval_start": 0.5, "interval_step": 1},
            )
