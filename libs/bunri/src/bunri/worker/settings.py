"""Settings every worker shares: its journal, its liveness file, its metrics, and fault injection
for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from bunri.metrics.settings import MetricsSettings
from bunri.settings import BrokerSettings, Environment


class WorkerSettings(MetricsSettings, BrokerSettings):
    journal_path: Path | None = Field(
        default=None,
        description="The node's journal (SQLite, WAL mode); default: "
        "<state_dir>/journal/<service_name>.sqlite3. Put it on a disk that outlives the process.",
    )
    journal_max_crashes: int = Field(
        default=3, ge=1, description="A task that kills its worker this many times is poison."
    )
    journal_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description="SQLite's synchronous for the journal (see bunri.journal.store): NORMAL "
        "survives any process crash; FULL also the newest commits across a power loss.",
    )
    journal_retention_hours: float = Field(default=48.0, gt=0)
    journal_flush_interval_seconds: float = Field(default=2.0, gt=0)

    heartbeat_path: Path | None = Field(
        default=None,
        description="Liveness file the worker's own loop rewrites; default: "
        "<state_dir>/heartbeat/<service_name>.json. Probe it with `bunri worker alive`.",
    )
    heartbeat_interval_seconds: float = Field(default=5.0, gt=0)

    worker_task_events: bool = Field(
        default=False,
        description="Send Celery task events (worker_send_task_events, task_send_sent_event) "
        "so that Flower can show tasks. Off by default: the events share the worker's "
        "confirmed-publishing connection (see bunri.worker.celery).",
    )

    fault_crash_marker: str | None = Field(
        default=None,
        description="Tests and chaos runs only: a task whose payload holds these bytes kills its "
        "worker process at its hazardous step.",
    )
    fault_crash_times: int | None = Field(
        default=None, ge=1, description="Crash only this many times per task (unset: always)."
    )

    @property
    def journal_file(self) -> Path:
        return self.journal_path or self.state_dir / "journal" / f"{self.service_name}.sqlite3"

    @property
    def heartbeat_file(self) -> Path:
        return self.heartbeat_path or self.state_dir / "heartbeat" / f"{self.service_name}.json"

    @property
    def metrics_multiprocess_dir(self) -> Path | None:
        """Where a prefork worker's processes leave their metrics for the parent to add up: one
        directory per worker (the port tells workers of a node apart), emptied at start."""
        if self.metrics_port is None:
            return None
        return self.state_dir / "metrics" / f"{self.service_name}-{self.metrics_port}"

    @model_validator(mode="after")
    def refuse_faults_in_production(self) -> WorkerSettings:
        if self.fault_crash_marker and self.environment is Environment.PRODUCTION:
            raise ValueError(
                "BUNRI_FAULT_CRASH_MARKER is for tests; it cannot be set in production"
            )
        return self
