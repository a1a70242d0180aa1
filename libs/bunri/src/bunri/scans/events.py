"""Progress events in Redis, so any API replica can serve any scan's event stream.

Each transition is appended to the scan's stream with the entry id `<version>-0`: ids are then the
events' sequence numbers, a duplicated append is refused by Redis (ids must grow), and a client
resuming with Last-Event-ID reads the stream after that id. A notification on one pub/sub channel
wakes the replicas that have a client listening.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import ResponseError

from bunri.db.models import Scan
from bunri.redis import KEY_PREFIX
from bunri.scans.views import event_data

CHANNEL = KEY_PREFIX + "scan-events"
STREAM_TTL_SECONDS = 24 * 3600
STREAM_MAX_LENGTH = 64


def stream_key(scan_id: uuid.UUID | str) -> str:
    return f"{KEY_PREFIX}scan-events:{scan_id}"


@dataclass(frozen=True, slots=True)
class ScanEvent:
    scan_id: str
    seq: int
    event: str
    data: dict[str, Any]

    @classmethod
    def of(cls, scan: Scan) -> ScanEvent:
        return cls(str(scan.id), scan.version, scan.status.value, event_data(scan))

    def to_json(self) -> str:
        return json.dumps(
            {"scan_id": self.scan_id, "seq": self.seq, "event": self.event, "data": self.data},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> ScanEvent:
        value = json.loads(raw)
        return cls(value["scan_id"], int(value["seq"]), value["event"], value["data"])


def publish_event(client: redis.Redis, event: ScanEvent) -> None:
    """Append the event to its scan's stream and notify listeners (from synchronous workers)."""
    key = stream_key(event.scan_id)
    payload = event.to_json()
    pipe = client.pipeline(transaction=False)
    pipe.xadd(key, {"e": payload}, id=f"{event.seq}-0", maxlen=STREAM_MAX_LENGTH, approximate=True)
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.publish(CHANNEL, payload)
    results = pipe.execute(raise_on_error=False)
    if isinstance(results[0], ResponseError) and "equal or smaller" not in str(results[0]):
        raise results[0]
