#!/usr/bin/python3
"""Publish each RabbitMQ queue's ready-message count to CloudWatch: the worker groups' scaling
signal. Run every minute by bunri-queue-metrics.timer on the broker node.

Reads the management API on this node with the monitoring user; every queue of the vhost is
published, idle ones as 0, so that a target-tracking expression summing several queues always has
data. One metric per queue: MessagesReady, dimensions Deployment and Queue.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
import urllib.request
from typing import Any

METRIC_NAME = "MessagesReady"


def ready_messages(api_url: str, vhost: str, user: str, password: str) -> dict[str, int]:
    """Ready (not yet delivered) messages per queue of the vhost."""
    url = (
        f"{api_url.rstrip('/')}/api/queues/{urllib.parse.quote(vhost, safe='')}"
        "?columns=name,messages_ready"
    )
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {api_url!r}")
    credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked above)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        queues: list[dict[str, Any]] = json.load(response)
    # A queue with no stats yet has no messages_ready key.
    return {queue["name"]: int(queue.get("messages_ready") or 0) for queue in queues}


def metric_data(deployment: str, depths: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "MetricName": METRIC_NAME,
            "Dimensions": [
                {"Name": "Deployment", "Value": deployment},
                {"Name": "Queue", "Value": queue},
            ],
            "Value": float(depth),
            "Unit": "Count",
        }
        for queue, depth in sorted(depths.items())
    ]


def main() -> None:
    import boto3

    depths = ready_messages(
        os.environ.get("RABBITMQ_MANAGEMENT_URL", "http://127.0.0.1:15672"),
        os.environ.get("RABBITMQ_VHOST", "/"),
        os.environ["RABBITMQ_MONITOR_USER"],
        os.environ["RABBITMQ_MONITOR_PASSWORD"],
    )
    data = metric_data(os.environ["NODE_DEPLOYMENT"], depths)
    # One call: PutMetricData takes up to 1,000 values and the topology has fourteen queues.
    boto3.client("cloudwatch").put_metric_data(
        Namespace=os.environ["NODE_QUEUE_METRIC_NAMESPACE"], MetricData=data
    )


if __name__ == "__main__":
    main()
