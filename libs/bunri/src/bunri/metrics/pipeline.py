"""The scan pipeline in the workers: how long each stage and each task takes, and how scans end."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

SCAN_STAGE_SECONDS = Histogram(
    "bunri_scan_stage_duration_seconds",
    "Time each stage of a scan took: normalize, store and hand_off in the storage worker; "
    "classify (decode, model, result) in the AI worker.",
    ["stage"],
    buckets=STAGE_BUCKETS,
)
NORMALIZE = SCAN_STAGE_SECONDS.labels("normalize")
STORE = SCAN_STAGE_SECONDS.labels("store")
HAND_OFF = SCAN_STAGE_SECONDS.labels("hand_off")
CLASSIFY = SCAN_STAGE_SECONDS.labels("classify")

SCANS_COMPLETED = Counter("bunri_scans_completed_total", "Scans this process completed.")
SCANS_FAILED = Counter("bunri_scans_failed_total", "Scans this process failed, by code.", ["code"])

TASK_SECONDS = Histogram(
    "bunri_worker_task_duration_seconds",
    "Time a worker task ran, by task and how it ended (the outcome's first word: stored, "
    "completed, failed, forwarded, skipped, duplicate, poison, retry, error ...).",
    ["task", "outcome"],
    buckets=STAGE_BUCKETS,
)
TASKS_IN_PROGRESS = Gauge(
    "bunri_worker_tasks_in_progress",
    "Tasks running now, by task.",
    ["task"],
    multiprocess_mode="livesum",
)
