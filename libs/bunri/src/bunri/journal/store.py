"""The worker journal: a SQLite database in WAL mode, one per worker node, holding every task the
node has started, written before the task's first side effect.

Durability (`PRAGMA synchronous`): WAL with NORMAL by default. A commit is in the WAL file (the
operating system's page cache) when it returns, so everything survives a crash of the worker
process, whatever the instant. After a power loss or a kernel crash the newest NORMAL commits may
be gone; then a redelivered task runs again (its S3 writes are put-if-absent, its database writes
compare-and-set, so nothing is done twice) and a crash may go uncounted. The one record that is
the only copy of something, a result waiting for PostgreSQL, is committed with FULL (fsync'd)
before its message is acknowledged, so it also survives a node reboot. Losing the disk loses the
journal: those waiting results are lost and their scans end `failed` by the reaper's sweep.

Several processes may share the file (the AI worker's pool children): every write takes SQLite's
write lock up front (`BEGIN IMMEDIATE`), and a process never uses a connection it inherited
through fork.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from bunri.journal.owners import owner_alive
from bunri.journal.records import (
    FINISHED_STATES,
    Forward,
    Outcome,
    Start,
    TaskRecord,
    TaskState,
)

Synchronous = Literal["NORMAL", "FULL"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id     TEXT PRIMARY KEY,
    task_name   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    crashes     INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT,
    owner_pid   INTEGER,
    started_at  REAL NOT NULL,
    updated_at  REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, updated_at);
CREATE TABLE IF NOT EXISTS steps (
    task_id TEXT NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    step    TEXT NOT NULL,
    value   BLOB,
    at      REAL NOT NULL,
    PRIMARY KEY (task_id, step)
);
CREATE TABLE IF NOT EXISTS forwards (
    task_id    TEXT PRIMARY KEY REFERENCES tasks (task_id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL
);
"""


class Journal:
    def __init__(
        self,
        path: Path,
        *,
        max_crashes: int = 3,
        synchronous: Synchronous = "NORMAL",
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.path = path
        self.max_crashes = max_crashes
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._owner_pid = 0

    # -- a task's life -------------------------------------------------------------------------

    def begin(self, task_id: str, task_name: str, subject: str) -> Start:
        """Record that this delivery starts, before any side effect; say whether to run it.

        A delivery that finds its task inside a hazardous step (see `hazard`) means the process
        running it died there: that counts as a crash, and the N-th crash makes it poison."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO tasks (task_id, task_name, subject, state, attempts, owner_pid,"
                    " started_at, updated_at) VALUES (?, ?, ?, 'running', 1, ?, ?, ?)",
                    (task_id, task_name, subject, os.getpid(), now, now),
                )
                return Start(Outcome.RUN, self._record(db, task_id))
            state = TaskState(row["state"])
            if state in FINISHED_STATES or state is TaskState.FORWARDING:
                return Start(Outcome.DUPLICATE, self._record(db, task_id))
            if (
                state in (TaskState.RUNNING, TaskState.HAZARD)
                and row["owner_pid"] != os.getpid()
                and owner_alive(row["owner_pid"], since=row["updated_at"])
            ):
                return Start(Outcome.IN_PROGRESS, self._record(db, task_id))
            crashes = row["crashes"] + (1 if state is TaskState.HAZARD else 0)
            if state is TaskState.POISONED or crashes >= self.max_crashes:
                db.execute(
                    "UPDATE tasks SET state = 'poisoned', crashes = ?, outcome = 'poison',"
                    " updated_at = ? WHERE task_id = ?",
                    (crashes, now, task_id),
                )
                return Start(Outcome.POISON, self._record(db, task_id))
            db.execute(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1, crashes = ?,"
                " owner_pid = ?, updated_at = ? WHERE task_id = ?",
                (crashes, os.getpid(), now, task_id),
            )
            return Start(Outcome.RUN, self._record(db, task_id))

    @contextmanager
    def hazard(self, task_id: str) -> Iterator[None]:
        """Around a step that can take the whole process down (native decoders, the model): a
        process that dies inside it is counted against this task."""
        self._set_state(task_id, TaskState.HAZARD)
        try:
            yield
        finally:
            self._set_state(task_id, TaskState.RUNNING)

    def checkpoint(self, task_id: str, step: str, value: bytes | str | None = None) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO steps (task_id, step, value, at) VALUES (?, ?, ?, ?)",
                (task_id, step, value, time.time()),
            )

    def step(self, task_id: str, step: str) -> bytes | str | None:
        rows = self._rows("SELECT value FROM steps WHERE task_id = ? AND step = ?", (task_id, step))
        if not rows:
            return None
        value: bytes | str | None = rows[0]["value"]
        return b"" if value is None else value

    def finish(self, task_id: str, outcome: str) -> None:
        """The task is done (its scan moved on, or it failed for good): a redelivery is skipped.
        Bulky checkpoints go now; the small ones stay for `bunri journal show`."""
        with self._write() as db:
            state = db.execute("SELECT state FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
            if state is not None and state["state"] != TaskState.FORWARDING:
                self._end(db, task_id, TaskState.DONE, outcome)
            db.execute(
                "UPDATE steps SET value = NULL WHERE task_id = ? AND length(value) > 1024",
                (task_id,),
            )

    def release(self, task_id: str, reason: str) -> None:
        """The task gives its message back to come again later (a retry): not a crash."""
        with self._write() as db:
            db.execute(
                "UPDATE tasks SET state = 'retrying', outcome = ?, updated_at = ?"
                " WHERE task_id = ? AND state IN ('running', 'hazard', 'retrying')",
                (reason, time.time(), task_id),
            )

    def forward(self, task_id: str, subject: str, kind: str, payload: dict[str, Any]) -> None:
        """Keep a write that the database refused, to apply when it is back. Committed with
        fsync: after this the message is acknowledged, and this row is the only copy."""
        with self._write(synchronous="FULL") as db:
            db.execute(
                "INSERT OR REPLACE INTO forwards (task_id, subject, kind, payload, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (task_id, subject, kind, json.dumps(payload), time.time()),
            )
            db.execute(
                "UPDATE tasks SET state = 'forwarding', updated_at = ? WHERE task_id = ?",
                (time.time(), task_id),
            )

    def forwards(self, limit: int = 100) -> list[Forward]:
        rows = self._rows("SELECT * FROM forwards ORDER BY created_at LIMIT ?", (limit,))
        return [
            Forward(
                task_id=row["task_id"],
                subject=row["subject"],
                kind=row["kind"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
                last_error=row["last_error"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def forwarded(self, task_id: str, outcome: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM forwards WHERE task_id = ?", (task_id,))
            self._end(db, task_id, TaskState.DONE, outcome)

    def forward_failed(self, task_id: str, error: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE forwards SET attempts = attempts + 1, last_error = ? WHERE task_id = ?",
                (error[:500], task_id),
            )

    def poisoned(self, task_id: str) -> None:
        """The poison task was dead-lettered: a redelivery of it is a duplicate."""
        with self._write() as db:
            self._end(db, task_id, TaskState.DEAD_LETTERED, "poison")

    # -- looking after the journal -------------------------------------------------------------

    def in_flight(self) -> list[TaskRecord]:
        """Tasks started and not finished: after a restart, what the crash interrupted."""
        rows = self._rows(
            "SELECT task_id FROM tasks WHERE state IN ('running', 'hazard', 'retrying')"
            " ORDER BY started_at"
        )
        return [record for row in rows if (record := self.get(row["task_id"])) is not None]

    def get(self, task_id: str) -> TaskRecord | None:
        with self._lock:
            db = self._db()
            if db.execute("SELECT 1 FROM tasks WHERE task_id = ?", (task_id,)).fetchone():
                return self._record(db, task_id)
        return None

    def tasks(self, *, state: str | None = None, limit: int = 50) -> list[TaskRecord]:
        query = "SELECT task_id FROM tasks"
        parameters: tuple[Any, ...] = ()
        if state is not None:
            query += " WHERE state = ?"
            parameters = (state,)
        rows = self._rows(query + " ORDER BY updated_at DESC LIMIT ?", (*parameters, limit))
        return [record for row in rows if (record := self.get(row["task_id"])) is not None]

    def counts(self) -> dict[str, int]:
        rows = self._rows("SELECT state, count(*) AS n FROM tasks GROUP BY state")
        counts = {row["state"]: int(row["n"]) for row in rows}
        counts["forwards"] = int(self._rows("SELECT count(*) AS n FROM forwards")[0]["n"])
        return counts

    def purge(self, older_than_seconds: float) -> int:
        """Forget finished tasks older than the window (never what is running or forwarding)."""
        cutoff = time.time() - older_than_seconds
        # Poisoned rows too: their dead-letter publish failed and nothing came back for them.
        states = (*(state.value for state in FINISHED_STATES), TaskState.POISONED.value)
        placeholders = ",".join("?" * len(states))
        with self._write() as db:
            deleted = db.execute(
                f"DELETE FROM tasks WHERE updated_at < ? AND state IN ({placeholders})",  # noqa: S608
                (cutoff, *states),
            ).rowcount
        return int(deleted)

    def forget_subjects(self, subjects: Sequence[str], *, including: str | None = None) -> int:
        """Forget every record about these subjects (an erased person's), except what a live
        process is running now; and the task `including` (the erasure itself), whatever its state.
        How many went."""
        active = ("running", "hazard", "forwarding")
        deleted = 0
        with self._write() as db:
            for start in range(0, len(subjects), 500):
                batch = list(subjects[start : start + 500])
                marks = ",".join("?" * len(batch))
                deleted += db.execute(
                    f"DELETE FROM tasks WHERE subject IN ({marks})"  # noqa: S608
                    " AND state NOT IN (?, ?, ?)",
                    (*batch, *active),
                ).rowcount
            if including is not None:
                deleted += db.execute("DELETE FROM tasks WHERE task_id = ?", (including,)).rowcount
        return int(deleted)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None and self._owner_pid == os.getpid():
                self._connection.close()
            self._connection = None

    # -- plumbing ------------------------------------------------------------------------------

    def _set_state(self, task_id: str, state: TaskState) -> None:
        """Between active states only: a task another process finished (or forwarded) stays so."""
        with self._write() as db:
            db.execute(
                "UPDATE tasks SET state = ?, owner_pid = ?, updated_at = ?"
                " WHERE task_id = ? AND state IN ('running', 'hazard', 'retrying')",
                (state.value, os.getpid(), time.time(), task_id),
            )

    @staticmethod
    def _end(db: sqlite3.Connection, task_id: str, state: TaskState, outcome: str) -> None:
        now = time.time()
        db.execute(
            "UPDATE tasks SET state = ?, outcome = ?, updated_at = ?, finished_at = ?"
            " WHERE task_id = ?",
            (state.value, outcome, now, now, task_id),
        )

    @staticmethod
    def _record(db: sqlite3.Connection, task_id: str) -> TaskRecord:
        row = db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        steps = {
            step["step"]: step["value"]
            for step in db.execute(
                "SELECT step, value FROM steps WHERE task_id = ? ORDER BY at", (task_id,)
            )
        }
        return TaskRecord(
            task_id=row["task_id"],
            task_name=row["task_name"],
            subject=row["subject"],
            state=TaskState(row["state"]),
            attempts=row["attempts"],
            crashes=row["crashes"],
            outcome=row["outcome"],
            owner_pid=row["owner_pid"],
            started_at=row["started_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
            steps=steps,
        )

    @contextmanager
    def _write(self, synchronous: Synchronous | None = None) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db()
            if synchronous and synchronous != self._synchronous:
                db.execute(f"PRAGMA synchronous = {synchronous}")
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                    db.commit()
                except BaseException:
                    # Also when COMMIT itself failed (disk full): never leave a transaction open.
                    if db.in_transaction:
                        db.rollback()
                    raise
            finally:
                if synchronous and synchronous != self._synchronous:
                    db.execute(f"PRAGMA synchronous = {self._synchronous}")

    def _rows(self, query: str, parameters: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            # Fetched before the lock goes: a cursor is not shared between threads.
            return self._db().execute(query, parameters).fetchall()

    def _db(self) -> sqlite3.Connection:
        # A connection inherited through fork belongs to the parent: never touch it here.
        if self._connection is None or self._owner_pid != os.getpid():
            self._connection = self._open()
            self._owner_pid = os.getpid()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # guarded by self._lock
        )
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode = WAL")
        db.execute(f"PRAGMA synchronous = {self._synchronous}")
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(SCHEMA)
        return db
