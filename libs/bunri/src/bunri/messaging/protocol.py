"""Task messages in Celery's message protocol (version 2), built without importing Celery, so an
async API can publish them with its own AMQP client.

See Celery's "Message Protocol" documentation: the task's metadata travels in the headers, the
body is the JSON array [args, kwargs, embed].
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pybase64

from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import DEFAULT_PRIORITY, MAX_PRIORITY
from bunri.tracing import TRACEPARENT_HEADER, outgoing_traceparent

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

    content_type = "application/json"
    content_encoding = "utf-8"


def task_message(
    task_name: str,
    *,
    task_id: str,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    binary_kwargs: Mapping[str, bytes] | None = None,
    priority: int = DEFAULT_PRIORITY,
    argsrepr: str | None = None,
    kwargsrepr: str | None = None,
) -> TaskMessage:
    """A message for `task_name`, routed to its queue. `task_id` is stable per unit of work (e.g.
    derived from the scan id), so a message published twice is recognisably the same task.
    `binary_kwargs` arrive at the task as base64 text, like Celery's own JSON serializer sends
    bytes."""
    if not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be within 0..{MAX_PRIORITY}")
    kwargs = dict(kwargs or {})
    if binary_kwargs and kwargs.keys() & binary_kwargs.keys():
        raise ValueError("a keyword argument is given both as a value and as binary")
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
    body = b"".join(
        (
            b"[",
            _json(list(args)),
            b",",
            _kwargs_json(kwargs, binary_kwargs or {}),
            b",",
            _json(_EMBED),
            b"]",
        )
    )
    return TaskMessage(
        task_id=task_id,
        task_name=task_name,
        routing_key=TASK_QUEUES[task_name].name,
        priority=priority,
        headers=headers,
        body=body,
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _kwargs_json(kwargs: Mapping[str, Any], binary_kwargs: Mapping[str, bytes]) -> bytes:
    """The kwargs object, with each binary value spliced in as base64: base64 needs no JSON
    escaping, and letting json.dumps scan half a megabyte of it would cost the accept path ~3 ms.
    pybase64 (SIMD) encodes 400 KB in 0.03 ms where the standard library takes 1 ms."""
    plain = _json(dict(kwargs))
    if not binary_kwargs:
        return plain
    members = [
        _json(name) + b':"' + pybase64.b64encode(value) + b'"'
        for name, value in binary_kwargs.items()
    ]
    if kwargs:
        members.insert(0, plain[1:-1])
    return b"{" + b",".join(members) + b"}"
