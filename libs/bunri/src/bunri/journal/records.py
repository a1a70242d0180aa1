"""What the journal holds about a task, and what it answers when a delivery starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskState(StrEnum):
    RUNNING = "running"
    # Inside a step that can kill the process; a delivery that finds this state counts a crash.
    HAZARD = "hazard"
    # Gave its message back for a later retry.
    RETRYING = "retrying"
    # Its result waits in the journal for the database.
    FORWARDING = "forwarding"
    DONE = "done"
    # Crashed its worker too often; dead-lettered.
    POISONED = "poisoned"
    DEAD_LETTERED = "dead_lettered"


FINISHED_STATES = frozenset({TaskState.DONE, TaskState.DEAD_LETTERED})


class Outcome(StrEnum):
    RUN = "run"
    # Finished before (or its result is waiting to be written): acknowledge, do nothing.
    DUPLICATE = "duplicate"
    # Killed its worker `max_crashes` times: dead-letter it instead of running it again.
    POISON = "poison"
    # Another live process of this node is running it now (a duplicate message): not this one.
    IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    task_id: str
    task_name: str
    subject: str
    state: TaskState
    attempts: int
    crashes: int
    outcome: str | None
    owner_pid: int | None
    started_at: float
    updated_at: float
    finished_at: float | None
    steps: dict[str, Any] = field(default_factory=dict)

    @property
    def suspect(self) -> bool:
        """It was in a hazardous step when a process died: run it on its own."""
        return self.crashes > 0


@dataclass(frozen=True, slots=True)
class Start:
    outcome: Outcome
    record: TaskRecord


@dataclass(frozen=True, slots=True)
class Forward:
    """A database write kept until the database is back."""

    task_id: str
    subject: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: float
