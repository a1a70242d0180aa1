"""What the ops tests' `observed_stack` fixture gives: scan-api, the storage worker and the AI
worker as processes, each with its log file and the URL of its metrics, and the auth-api they
trust."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Process:
    log: Path
    metrics_url: str


@dataclass(frozen=True)
class ObservedStack:
    scan_api: Process
    storage: Process
    ai: Process
    ai_multiprocess_dir: Path
    auth_url: str

    @property
    def scan_api_url(self) -> str:
        return self.scan_api.metrics_url.removesuffix("/metrics")
