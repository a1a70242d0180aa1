"""Task messages as Celery's protocol v2 expects them, binary arguments included."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bunri.messaging.protocol import task_message
from bunri.messaging.tasks import STORE_SCAN_IMAGE

_values = st.one_of(st.none(), st.integers(), st.text(), st.booleans())


@given(
    args=st.lists(_values, max_size=3),
    kwargs=st.dictionaries(st.text(max_size=8), _values, max_size=3),
    binary=st.dictionaries(st.text(min_size=9, max_size=12), st.binary(max_size=64), max_size=2),
)
def test_the_body_is_the_json_celery_would_send(
    args: list[object], kwargs: dict[str, object], binary: dict[str, bytes]
) -> None:
    message = task_message(
        STORE_SCAN_IMAGE, task_id="t", args=args, kwargs=kwargs, binary_kwargs=binary
    )
    expected = kwargs | {name: base64.b64encode(value).decode() for name, value in binary.items()}
    decoded_args, decoded_kwargs, embed = json.loads(message.body)
    assert decoded_args == args
    assert decoded_kwargs == expected
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def test_headers_name_the_task_and_its_queue() -> None:
    message = task_message(STORE_SCAN_IMAGE, task_id="scan.store_image:1", priority=7)
    assert message.headers["task"] == STORE_SCAN_IMAGE
    assert message.headers["id"] == message.headers["root_id"] == "scan.store_image:1"
    assert (message.routing_key, message.priority) == ("scan.image_upload", 7)


def test_an_argument_given_twice_or_a_priority_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        task_message(STORE_SCAN_IMAGE, task_id="t", kwargs={"a": 1}, binary_kwargs={"a": b""})
    with pytest.raises(ValueError, match="priority"):
        task_message(STORE_SCAN_IMAGE, task_id="t", priority=11)
