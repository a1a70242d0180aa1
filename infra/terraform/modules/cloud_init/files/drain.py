#!/usr/bin/python3
"""Drain this worker node when its auto scaling group is terminating it.

Run every 10 s by bunri-drain.timer. While the instance is in service it does nothing. Once the
group marks it for termination (the lifecycle hook holds it in Terminating:Wait and the metadata
service says target-lifecycle-state = Terminated) it:
  1. stops the liveness check, then the worker: Celery's warm shutdown lets the running tasks
     finish; unstarted prefetched messages go back to RabbitMQ for the other nodes;
  2. writes the results the journal still holds for PostgreSQL (`bunri journal flush`);
  3. unmounts and detaches the journal volume, so that a new node in this zone can take it at once
     (anything the flush could not write is still on it, and that node's upkeep writes it);
  4. completes the lifecycle action: the group terminates the instance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from imds import metadata

JOURNAL_VOLUME_FILE = Path("/run/bunri/journal-volume")
FLUSH_ATTEMPTS = 6


def run(*command: str, check: bool = True) -> int:
    """Run a system command; its exit status. Commands are fixed absolute paths and their
    arguments come from this node's own configuration."""
    return subprocess.run(command, check=check).returncode  # noqa: S603


def log(message: str) -> None:
    sys.stderr.write(message + "\n")


def systemctl(*arguments: str) -> None:
    run("/usr/bin/systemctl", *arguments, check=False)


def flush_journal() -> bool:
    # As the worker's user: SQLite files a root process created (-wal, -shm) would lock the
    # worker out of its own journal on the next node.
    command = [
        "/usr/sbin/runuser",
        "-u",
        os.environ.get("NODE_USER", "bunri"),
        "--",
        "/opt/bunri/venv/bin/bunri",
        "journal",
        "flush",
        "--path",
        os.environ["BUNRI_JOURNAL_PATH"],
    ]
    for attempt in range(1, FLUSH_ATTEMPTS + 1):
        if run(*command, check=False) == 0:
            return True
        log(f"journal flush attempt {attempt} left results waiting; retrying")
        time.sleep(10)
    return False


def release_volume(ec2: Any, instance_id: str) -> None:
    mount_point = os.environ["NODE_JOURNAL_MOUNT"]
    run("/usr/bin/sync", check=False)
    run("/usr/bin/umount", mount_point, check=False)
    if JOURNAL_VOLUME_FILE.exists():
        volume_id = JOURNAL_VOLUME_FILE.read_text().strip()
        ec2.detach_volume(VolumeId=volume_id, InstanceId=instance_id)
        log(f"journal volume {volume_id} detached")


def main() -> None:
    if metadata("autoscaling/target-lifecycle-state") != "Terminated":
        return
    import boto3

    instance_id = metadata("instance-id")
    assert instance_id is not None
    worker_unit = os.environ["NODE_WORKER_UNIT"]
    log(f"terminating: draining {worker_unit}")
    systemctl("stop", "bunri-worker-liveness.timer")
    systemctl("stop", worker_unit)  # returns once Celery's warm shutdown is over
    if flush_journal():
        log("journal flushed: nothing waits for PostgreSQL")
    else:
        log("results still wait for PostgreSQL; they stay on the journal volume")
    release_volume(boto3.client("ec2"), instance_id)
    boto3.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName=os.environ["NODE_ASG_NAME"],
        LifecycleHookName=os.environ["NODE_DRAIN_HOOK"],
        InstanceId=instance_id,
        LifecycleActionResult="CONTINUE",
    )
    log("lifecycle action completed")


if __name__ == "__main__":
    main()
