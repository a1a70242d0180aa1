"""Task names and the queue each is routed to: producers enqueue by name and never import worker
code (which keeps the APIs free of the workers' heavy imports)."""

from __future__ import annotations

from bunri.messaging.topology import (
    ACCOUNT_ERASURE,
    AI_ANALYSIS,
    CHARACTER_EVENTS,
    CHARACTER_REWARDS,
    CHAT_BATCH,
    IMAGE_UPLOAD,
    PROFILE_PHOTOS,
    WorkQueue,
)

STORE_SCAN_IMAGE = "scan.store_image"
ANALYZE_SCAN = "scan.analyze"
ANSWER_CHAT_BATCH = "chat.answer_batch"
STORE_PROFILE_PHOTO = "my.profile_photo"
ERASE_ACCOUNT = "my.erase_account"
HANDLE_EVENT = "events.handle"
GRANT_CAMPAIGN_CHUNK = "character.grant_chunk"

TASK_QUEUES: dict[str, WorkQueue] = {
    STORE_SCAN_IMAGE: IMAGE_UPLOAD,
    ANALYZE_SCAN: AI_ANALYSIS,
    ANSWER_CHAT_BATCH: CHAT_BATCH,
    STORE_PROFILE_PHOTO: PROFILE_PHOTOS,
    ERASE_ACCOUNT: ACCOUNT_ERASURE,
    # Published to bunri.events by type; the character worker consumes its own queue of them.
    HANDLE_EVENT: CHARACTER_EVENTS,
    GRANT_CAMPAIGN_CHUNK: CHARACTER_REWARDS,
}

# What each task's first argument is: the name its log lines give it.
TASK_SUBJECTS: dict[str, str] = {
    STORE_SCAN_IMAGE: "scan_id",
    ANALYZE_SCAN: "scan_id",
    ANSWER_CHAT_BATCH: "job_id",
    STORE_PROFILE_PHOTO: "user_id",
    ERASE_ACCOUNT: "user_id",
    HANDLE_EVENT: "event_id",
    GRANT_CAMPAIGN_CHUNK: "campaign",
}
