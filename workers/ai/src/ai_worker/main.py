"""`bunri-ai-worker`: the AI worker, a Celery worker on the prefork pool."""

from __future__ import annotations

from ai_worker.settings import AiWorkerSettings
from bunri.messaging.topology import AI_ANALYSIS, CHAT_BATCH
from bunri.worker.launch import exec_celery_worker

# Batch chat questions come at low priority on their own queue, behind no scan.
QUEUES = f"{AI_ANALYSIS.name},{CHAT_BATCH.name}"


def main() -> None:
    settings = AiWorkerSettings()
    exec_celery_worker(
        "ai_worker.app",
        pool="prefork",
        concurrency=settings.ai_worker_concurrency,
        queue=QUEUES,
        name="ai",
        log_level=settings.log_level,
        # The pool children observe; the parent serves their figures, added up.
        metrics_multiprocess_dir=settings.metrics_multiprocess_dir,
    )
