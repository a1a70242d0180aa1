"""Starting a worker: each worker's console script replaces itself with `celery worker`, so that
the pool is chosen before Celery imports anything (eventlet must patch first)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def exec_celery_worker(
    app_module: str,
    *,
    pool: str,
    concurrency: int,
    queue: str,
    name: str,
    log_level: str,
    metrics_multiprocess_dir: Path | None = None,
) -> None:
    """`metrics_multiprocess_dir`: for a pool of processes that serves metrics, the directory
    where every process leaves its figures; prepared here, before Celery (and prometheus_client)
    is imported, and inherited by the pool's children."""
    if metrics_multiprocess_dir is not None:
        from bunri.metrics.multiprocess import prepare_multiprocess_dir

        prepare_multiprocess_dir(metrics_multiprocess_dir)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app_module,
        "worker",
        "-P",
        pool,
        "-c",
        str(concurrency),
        "-Q",
        queue,
        # execv keeps the pid: unique among several workers on one node.
        "-n",
        f"{name}.{os.getpid()}@{os.uname().nodename}",
        "-l",
        log_level,
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",  # worker-heartbeat events, for monitors we do not run
        *sys.argv[1:],
    ]
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter, a fixed argv)
