"""`bunri-storage-worker`: the storage worker, a Celery worker on the eventlet pool.

The pool is named on Celery's command line so that Celery monkey-patches before importing
anything (setting it in configuration patches too late).
"""

from __future__ import annotations

import os

from bunri.messaging.topology import ACCOUNT_ERASURE, IMAGE_UPLOAD, PROFILE_PHOTOS
from bunri.worker.launch import exec_celery_worker
from storage_worker.settings import StorageWorkerSettings

QUEUES = ",".join(queue.name for queue in (IMAGE_UPLOAD, PROFILE_PHOTOS, ACCOUNT_ERASURE))


def main() -> None:
    settings = StorageWorkerSettings()
    # psycopg picks its C wait function unless told otherwise; that one blocks the eventlet hub.
    # Its pure-Python select() wait cooperates with eventlet's patched select.
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    exec_celery_worker(
        "storage_worker.app",
        pool="eventlet",
        concurrency=settings.storage_worker_concurrency,
        queue=QUEUES,
        name="storage",
        log_level=settings.log_level,
    )
