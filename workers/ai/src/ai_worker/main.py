"""`bunri-ai-worker`: the AI worker, a Celery worker on the prefork pool."""

from __future__ import annotations

import os
import sys

from ai_worker.settings import AiWorkerSettings

QUEUES = "scan.ai_analysis"


def main() -> None:
    settings = AiWorkerSettings()
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "ai_worker.app",
        "worker",
        "-P",
        "prefork",
        "-c",
        str(settings.ai_worker_concurrency),
        "-Q",
        QUEUES,
        "-n",
        f"ai.{os.getpid()}@{os.uname().nodename}",
        "-l",
        settings.log_level,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",  # worker-heartbeat events, for monitors we do not run
        *sys.argv[1:],
    ]
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, a fixed argv)
