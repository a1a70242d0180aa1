from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bunri.worker.settings import WorkerSettings


class CharacterWorkerSettings(WorkerSettings):
    service_name: str = "character-worker"

    character_worker_concurrency: int = Field(default=2, ge=1)
    character_task_max_retries: int = Field(
        default=20,
        ge=0,
        description="Retries (with backoff, about 15 minutes) of a task "
        "whose database or Redis is away; past them it waits in its dead-letter queue.",
    )
    character_conflict_attempts: int = Field(
        default=10, ge=1, description="Compare-and-set tries an event makes on a busy character."
    )
    character_rules_path: Path | None = Field(
        default=None,
        description="A rules file other than the shipped bunri/character/data/rules.toml.",
    )
    character_missions_path: Path | None = Field(
        default=None,
        description="A missions file other than the shipped bunri/character/data/missions.toml.",
    )
