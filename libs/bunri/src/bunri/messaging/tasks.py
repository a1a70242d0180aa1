"""Task names and the queue each is routed to: producers enqueue by name and never import worker
code (which keeps the APIs free of the workers' heavy imports)."""

from __future__ import annotations

from bunri.messaging.topology import AI_ANALYSIS, CHAT_BATCH, IMAGE_UPLOAD, WorkQueue

STORE_SCAN_IMAGE = "scan.store_image"
ANALYZE_SCAN = "scan.analyze"
ANSWER_CHAT_BATCH = "chat.answer_batch"

TASK_QUEUES: dict[str, WorkQueue] = {
    STORE_SCAN_IMAGE: IMAGE_UPLOAD,
    ANALYZE_SCAN: AI_ANALYSIS,
    ANSWER_CHAT_BATCH: CHAT_BATCH,
}

# What each task's first argument is: the name its log lines give it.
TASK_SUBJECTS: dict[str, str] = {
    STORE_SCAN_IMAGE: "scan_id",
    ANALYZE_SCAN: "scan_id",
    ANSWER_CHAT_BATCH: "job_id",
}
