from __future__ import annotations

from pydantic import Field

from bunri.worker.settings import WorkerSettings


class StorageWorkerSettings(WorkerSettings):
    service_name: str = "storage-worker"

    storage_worker_concurrency: int = Field(default=100, ge=1)
    thumbnail_px: int = Field(default=320, ge=16)
    analysis_px: int = Field(default=384, ge=32)
    # Decoding holds the whole bitmap (3 bytes a pixel): bound how many run at once.
    image_decode_concurrency: int = Field(default=2, ge=1)
    scan_visibility_timeout_seconds: float = Field(default=5.0, ge=0)
    storage_task_max_retries: int = Field(default=10, ge=0)
