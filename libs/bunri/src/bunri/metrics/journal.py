"""The worker journal's size, read at each scrape: tasks per state, results waiting for the
database, and the files on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from bunri.journal import Journal, TaskState
from bunri.logging import get_logger

log = get_logger(__name__)

FORWARDS = "forwards"


class JournalCollector:
    """Reads through a connection of its own (never the tasks'), so that a scrape neither waits
    for a task's journal write nor leaves a lock held in a pool child forked meanwhile."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._journal = Journal(path)

    def collect(self) -> Iterator[Metric]:
        sizes = GaugeMetricFamily(
            "bunri_journal_file_bytes",
            "Size of the journal's SQLite files (database and write-ahead log).",
            labels=["file"],
        )
        for name, suffix in (("database", ""), ("wal", "-wal")):
            sizes.add_metric([name], _size(self._path.with_name(self._path.name + suffix)))
        yield sizes
        if not self._path.exists():
            return
        try:
            counts = self._journal.counts()
        except sqlite3.Error as exc:
            log.warning("journal not readable for metrics", error=repr(exc))
            return
        tasks = GaugeMetricFamily(
            "bunri_journal_tasks", "Tasks in the worker's journal, by state.", labels=["state"]
        )
        for state in TaskState:
            tasks.add_metric([state.value], counts.get(state.value, 0))
        yield tasks
        yield GaugeMetricFamily(
            "bunri_journal_forwards_waiting",
            "Results kept in the journal until PostgreSQL takes them.",
            value=counts.get(FORWARDS, 0),
        )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
