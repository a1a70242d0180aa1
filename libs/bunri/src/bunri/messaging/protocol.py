"""Task messages in Celery's message protocol (version 2), built without importing Celery, so an
async API can publish them with its own AMQP client.

See Celery's "Message Protocol" documentation: the task's metadata travels in the headers, the
body is the array [args, kwargs, embed]. Bodies are MessagePack (kombu's `msgpack` serializer),
so a photo travels as its own bytes: JSON would need base64, a third more to copy, publish,
write to the broker's disk and decode.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import pybase64

from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import DEFAULT_PRIORITY, MAX_PRIORITY, TASK_EXCHANGE
from bunri.tracing import TRACEPARENT_HEADER, outgoing_traceparent

MSGPACK = "application/x-msgpack"
JSON = "application/json"
# What kombu expects beside each content type: a "utf-8" body would be decoded to text first.
CONTENT_ENCODINGS = {MSGPACK: "binary", JSON: "utf-8"}

_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


@dataclass(frozen=True, slots=True)
class TaskMessage:
    task_id: str
    task_name: str
    routing_key: str
    priority: int
    headers: dict[str, Any]
    body: bytes
    content_type: str = MSGPACK
    exchange: str = TASK_EXCHANGE

    @property
    def content_encoding(self) -> str:
        return CONTENT_ENCODINGS[self.content_type]


@dataclass(frozen=True, slots=True)
class TaskCall:
    """One unit of work for a task, about one subject (a scan, a batch job): the task's only
    positional argument is the subject's id, and its id is `<task>:<subject>`, so that the same
    work published twice is recognisably the same task (the workers' journals key on it)."""

    task_name: str
    subject_id: uuid.UUID
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Which unit of work about the subject, for a subject that has several one after another
    # (a person's successive photo uploads).
    unit: str | None = None

    @property
    def task_id(self) -> str:
        base = f"{self.task_name}:{self.subject_id}"
        return base if self.unit is None else f"{base}:{self.unit}"

    @property
    def args(self) -> list[str]:
        return [str(self.subject_id)]

    @property
    def argsrepr(self) -> str:
        return f"('{self.subject_id}',)"

    @property
    def kwargsrepr(self) -> str:
        """What logs and Flower show: a photo's size, not its megabytes."""
        shown = (
            f"{name!r}: " + (f"<{len(value)} bytes>" if isinstance(value, bytes) else repr(value))
            for name, value in self.kwargs.items()
        )
        return "{" + ", ".join(shown) + "}"

    def send_task_options(self) -> dict[str, Any]:
        """This call as `Celery.send_task`'s keyword arguments (a Celery worker publishing)."""
        return {
            "args": self.args,
            "kwargs": dict(self.kwargs),
            "task_id": self.task_id,
            "argsrepr": self.argsrepr,
            "kwargsrepr": self.kwargsrepr,
        }

    def message(self, priority: int = DEFAULT_PRIORITY) -> TaskMessage:
        """This call as a message for an AMQP client of its own (the APIs' publisher)."""
        return task_message(
            self.task_name,
            task_id=self.task_id,
            args=self.args,
            kwargs=self.kwargs,
            priority=priority,
            argsrepr=self.argsrepr,
            kwargsrepr=self.kwargsrepr,
        )


def task_message(
    task_name: str,
    *,
    task_id: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    priority: int = DEFAULT_PRIORITY,
    argsrepr: str | None = None,
    kwargsrepr: str | None = None,
    exchange: str = TASK_EXCHANGE,
    routing_key: str | None = None,
) -> TaskMessage:
    """A message for `task_name`, routed to its queue. `task_id` is stable per unit of work (e.g.
    derived from the scan id), so a message published twice is recognisably the same task.
    Values of type `bytes` arrive at the task as bytes."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be within 0..{MAX_PRIORITY}")
    kwargs = dict(kwargs or {})
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        # Shown by Flower and in logs; the real arguments may be megabytes.
        "argsrepr": argsrepr if argsrepr is not None else repr(tuple(args))[:200],
        "kwargsrepr": kwargsrepr if kwargsrepr is not None else repr(sorted(kwargs))[:200],
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    traceparent = outgoing_traceparent()
    if traceparent is not None:
        # The worker continues the publishing request's trace (see bunri.tracing).
        headers[TRACEPARENT_HEADER] = traceparent
    body = msgpack.packb([list(args), kwargs, _EMBED], use_bin_type=True)
    return TaskMessage(
        task_id=task_id,
        task_name=task_name,
        routing_key=routing_key or TASK_QUEUES[task_name].name,
        priority=priority,
        headers=headers,
        body=body,
        exchange=exchange,
    )


def task_arguments(body: bytes, content_type: str | None) -> tuple[list[Any], dict[str, Any]]:
    """The args and kwargs of a task message's body; ValueError when it cannot be read."""
    try:
        decode = _msgpack_loads if content_type == MSGPACK else json.loads
        decoded = decode(body)
    except (ValueError, msgpack.UnpackException) as exc:
        raise ValueError(f"unreadable task message body: {exc}") from exc
    if not (isinstance(decoded, list) and len(decoded) >= 2):
        raise ValueError("a task message body is [args, kwargs, embed]")
    args, kwargs = decoded[0], decoded[1]
    if not (isinstance(args, list) and isinstance(kwargs, dict)):
        raise ValueError("a task message body is [args, kwargs, embed]")
    return args, kwargs


def _msgpack_loads(body: bytes) -> Any:
    return msgpack.unpackb(body, raw=False)


def binary_argument(value: bytes | str) -> bytes:
    """A task's bytes argument: bytes in MessagePack, base64 text in a JSON message published
    before the switch."""
    if isinstance(value, bytes):
        return value
    return pybase64.b64decode(value, validate=True)
