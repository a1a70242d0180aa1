"""Each worker node's journal of its tasks (DESIGN.md section 5): SQLite in WAL mode."""

from bunri.journal.records import Forward, Outcome, Start, TaskRecord, TaskState
from bunri.journal.store import Journal

__all__ = ["Forward", "Journal", "Outcome", "Start", "TaskRecord", "TaskState"]
