"""A worker's housekeeping thread (a green thread under eventlet): writes the results that wait in
the journal for PostgreSQL, and purges finished tasks past the retention window."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from celery.signals import worker_ready, worker_shutdown

from bunri.journal import Journal
from bunri.logging import get_logger
from bunri.worker.durable import DurableScanWrites
from bunri.worker.settings import WorkerSettings

log = get_logger(__name__)

PURGE_EVERY_SECONDS = 3600.0


class Upkeep:
    def __init__(
        self,
        journal: Journal,
        writes: Callable[[], DurableScanWrites],
        settings: WorkerSettings,
    ) -> None:
        self._journal = journal
        self._writes = writes
        self._interval = settings.journal_flush_interval_seconds
        self._retention_seconds = settings.journal_retention_hours * 3600
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_purge = 0.0
        # A pool child forked mid-round would inherit an open database socket and, tearing it
        # down, end the parent's session: forks wait for the round to finish.
        self._round = threading.Lock()
        # Registered once: there is one Upkeep per worker process.
        os.register_at_fork(
            before=self._round.acquire,
            after_in_parent=self._round.release,
            after_in_child=self._after_fork_in_child,
        )

    def run_with_the_worker(self) -> None:
        """Start once the worker is ready (in its main process, after the pool has forked) and
        stop with it."""
        worker_ready.connect(lambda **_: self.start(), weak=False)
        worker_shutdown.connect(lambda **_: self.stop(), weak=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="journal-upkeep", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def run_once(self) -> None:
        with self._round:
            if self._journal.forwards(limit=1):
                written, waiting = self._writes().flush()
                if written or waiting:
                    log.info("journal flushed", written=written, waiting=waiting)
            if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
                purged = self._journal.purge(self._retention_seconds)
                self._last_purge = time.monotonic()
                if purged:
                    log.info("journal purged", tasks=purged)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self.run_once()
            except Exception:  # the next round tries again; a dead upkeep thread would not
                log.exception("journal upkeep round failed")

    def _after_fork_in_child(self) -> None:
        # The child inherits the lock as the fork left it: held. It never runs the upkeep thread.
        self._round.release()
        self._thread = None


def report_recovery(journal: Journal) -> None:
    """At start: say what the last run of this node left unfinished (it comes back from the
    broker; the journal decides what to skip) and what waits for the database."""
    in_flight = journal.in_flight()
    waiting = len(journal.forwards())
    if in_flight or waiting:
        log.warning(
            "journal recovered",
            in_flight=len(in_flight),
            suspects=sum(1 for task in in_flight if task.state == "hazard"),
            waiting_for_database=waiting,
            tasks=[task.task_id for task in in_flight[:20]],
        )
    else:
        log.info("journal clean", path=str(journal.path))
