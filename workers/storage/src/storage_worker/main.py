"""`bunri-storage-worker`: the storage worker, a Celery worker on the eventlet pool.

The pool is named on Celery's command line so that Celery monkey-patches before importing
anything (setting it in configuration patches too late).
"""

from __future__ import annotations

import os
import sys

from storage_worker.settings import StorageWorkerSettings

QUEUE = "scan.image_upload"


def main() -> None:
    settings = StorageWorkerSettings()
    # psycopg picks its C wait function unless told otherwise; that one blocks the eventlet hub.
    # Its pure-Python select() wait cooperates with eventlet's patched select.
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "storage_worker.app",
        "worker",
        "-P",
        "eventlet",
        "-c",
        str(settings.storage_worker_concurrency),
        "-Q",
        QUEUE,
        # execv keeps the pid: unique among several workers on one node.
        "-n",
        f"storage.{os.getpid()}@{os.uname().nodename}",
        "-l",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",  # worker-heartbeat events, for monitors we do not run
        *sys.argv[1:],
    ]
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, a fixed argv)
