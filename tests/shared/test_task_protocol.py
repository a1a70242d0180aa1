"""Task messages as Celery's protocol v2 expects them: MessagePack bodies, bytes kept as bytes,
and JSON messages from before the switch still readable."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kombu.serialization import loads

from bunri.messaging.protocol import (
    JSON,
    MSGPACK,
    TaskCall,
    binary_argument,
    task_arguments,
    task_message,
)
from bunri.messaging.tasks import ANSWER_CHAT_BATCH, STORE_SCAN_IMAGE

_values = st.one_of(
    st.none(), st.integers(-(2**53), 2**53), st.text(), st.booleans(), st.binary(max_size=64)
)


@given(
    args=st.lists(_values, max_size=3),
    kwargs=st.dictionaries(st.text(max_size=8), _values, max_size=3),
)
def test_kombu_reads_the_body_as_celery_would(
    args: list[object], kwargs: dict[str, object]
) -> None:
    message = task_message(STORE_SCAN_IMAGE, task_id="t", args=args, kwargs=kwargs)
    assert (message.content_type, message.content_encoding) == (MSGPACK, "binary")
    decoded_args, decoded_kwargs, embed = loads(
        message.body, message.content_type, message.content_encoding, accept={MSGPACK}
    )
    assert decoded_args == args
    assert decoded_kwargs == kwargs
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    assert task_arguments(message.body, message.content_type) == (args, kwargs)


def test_a_photo_travels_as_its_own_bytes() -> None:
    photo = bytes(range(256)) * 1600
    message = task_message(STORE_SCAN_IMAGE, task_id="t", args=["s"], kwargs={"image": photo})
    assert len(message.body) < len(photo) + 200
    _, kwargs = task_arguments(message.body, MSGPACK)
    assert binary_argument(kwargs["image"]) == photo


def test_a_json_message_from_before_the_switch_is_still_read() -> None:
    photo = b"\xff\xd8 a photo"
    body = json.dumps([["s"], {"image": base64.b64encode(photo).decode()}, {}]).encode()
    args, kwargs = task_arguments(body, JSON)
    assert args == ["s"]
    assert binary_argument(kwargs["image"]) == photo


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"", MSGPACK), (b"\xc1", MSGPACK), (b"{}", JSON), (b"[1, 2]", JSON), (b"not json", JSON)],
)
def test_an_unreadable_body_is_a_value_error(body: bytes, content_type: str) -> None:
    with pytest.raises(ValueError, match="task message body"):
        task_arguments(body, content_type)


def test_headers_name_the_task_and_its_queue() -> None:
    message = task_message(STORE_SCAN_IMAGE, task_id="scan.store_image:1", priority=7)
    assert message.headers["task"] == STORE_SCAN_IMAGE
    assert message.headers["id"] == message.headers["root_id"] == "scan.store_image:1"
    assert (message.routing_key, message.priority) == ("scan.image_upload", 7)


def test_a_priority_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="priority"):
        task_message(STORE_SCAN_IMAGE, task_id="t", priority=11)


def test_a_task_call_names_its_subject_and_shows_sizes_not_bytes() -> None:
    scan_id = uuid.UUID("0190c0de-0000-7000-8000-000000000001")
    call = TaskCall(STORE_SCAN_IMAGE, scan_id, {"image": b"\xff" * 2048, "media_type": "image/png"})
    message = call.message(priority=8)
    assert message.task_id == message.headers["id"] == f"scan.store_image:{scan_id}"
    assert message.headers["argsrepr"] == f"('{scan_id}',)"
    assert message.headers["kwargsrepr"] == "{'image': <2048 bytes>, 'media_type': 'image/png'}"
    assert task_arguments(message.body, MSGPACK) == ([str(scan_id)], dict(call.kwargs))
    assert message.priority == 8
    # The same work published again is the same task, whatever else differs.
    assert TaskCall(STORE_SCAN_IMAGE, scan_id).task_id == call.task_id
    assert TaskCall(ANSWER_CHAT_BATCH, scan_id).message().headers["kwargsrepr"] == "{}"
