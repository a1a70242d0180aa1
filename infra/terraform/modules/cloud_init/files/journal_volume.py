#!/usr/bin/python3
"""Attach this worker node's journal volume and mount it where the worker keeps its journal.

Terraform creates the role's journal volumes (tag bunri:journal=<deployment>-<role>) in every zone.
At boot this takes the one already attached to this instance (a reboot) or else the first free one
in its zone, formats it only if it is blank (a volume left by a drained node keeps its journal),
and mounts it. Run by bunri-journal-volume.service before the worker starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from imds import metadata

DEVICE_NAME = "/dev/sdf"
STATE_FILE = Path("/run/bunri/journal-volume")


def run(*command: str, check: bool = True) -> int:
    """Run a system command; its exit status. Commands are fixed absolute paths and their
    arguments come from this node's own configuration."""
    return subprocess.run(command, check=check).returncode  # noqa: S603


def nvme_device(volume_id: str) -> Path:
    """Nitro instances expose EBS volumes as NVMe disks whose serial is the volume id."""
    return Path("/dev/disk/by-id") / f"nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"


def attached_volume(ec2: Any, instance_id: str, tag: str) -> str | None:
    volumes = ec2.describe_volumes(
        Filters=[
            {"Name": "tag:bunri:journal", "Values": [tag]},
            {"Name": "attachment.instance-id", "Values": [instance_id]},
        ]
    )["Volumes"]
    return volumes[0]["VolumeId"] if volumes else None


def attach_free_volume(ec2: Any, instance_id: str, zone: str, tag: str) -> str | None:
    """Attach the first free journal volume of the zone; None if every one is taken."""
    from botocore.exceptions import ClientError

    free = ec2.describe_volumes(
        Filters=[
            {"Name": "tag:bunri:journal", "Values": [tag]},
            {"Name": "availability-zone", "Values": [zone]},
            {"Name": "status", "Values": ["available"]},
        ]
    )["Volumes"]
    for volume in sorted(free, key=lambda volume: volume["VolumeId"]):
        try:
            ec2.attach_volume(
                Device=DEVICE_NAME, InstanceId=instance_id, VolumeId=volume["VolumeId"]
            )
        except ClientError as error:
            # Another node booting in this zone took it first.
            sys.stderr.write(f"{volume['VolumeId']}: {error}; trying the next one\n")
            continue
        return str(volume["VolumeId"])
    return None


def wait_for(path: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear in {seconds:.0f} s")
        time.sleep(2)


def mount(device: Path, mount_point: Path, owner: str) -> None:
    blank = run("/usr/sbin/blkid", str(device), check=False) != 0
    if blank:
        run("/usr/sbin/mkfs.ext4", "-q", "-L", "bunri-journal", str(device), check=True)
    mount_point.mkdir(parents=True, exist_ok=True)
    run("/usr/bin/mount", "-o", "noatime", str(device.resolve()), str(mount_point), check=True)
    run("/usr/bin/chown", f"{owner}:{owner}", str(mount_point), check=True)


def main() -> None:
    import boto3

    mount_point = Path(os.environ["NODE_JOURNAL_MOUNT"])
    tag = os.environ["NODE_JOURNAL_VOLUME_TAG"]
    if run("/usr/bin/mountpoint", "-q", str(mount_point), check=False) == 0:
        return
    instance_id = metadata("instance-id")
    zone = metadata("placement/availability-zone")
    assert instance_id is not None
    assert zone is not None
    ec2 = boto3.client("ec2")
    volume_id = attached_volume(ec2, instance_id, tag)
    while volume_id is None:
        volume_id = attach_free_volume(ec2, instance_id, zone, tag)
        if volume_id is None:
            sys.stderr.write(f"no free journal volume tagged {tag} in {zone}; retrying in 30 s\n")
            time.sleep(30)
    device = nvme_device(volume_id)
    wait_for(device, 180)
    mount(device, mount_point, os.environ.get("NODE_USER", "bunri"))
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(volume_id)
    sys.stderr.write(f"journal volume {volume_id} mounted on {mount_point}\n")


if __name__ == "__main__":
    main()
