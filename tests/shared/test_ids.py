from __future__ import annotations

import time
import uuid

from bunri.ids import uuid7, uuid7_time


def test_uuid7_is_version_7_and_sorts_by_creation_time() -> None:
    ids = []
    for _ in range(50):
        ids.append(uuid7())
        time.sleep(0.001)
    assert all(value.version == 7 for value in ids)
    assert all(value.variant == "specified in RFC 4122" for value in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    millis = ids[0].int >> 80
    assert abs(millis - time.time() * 1000) < 5_000


def test_uuid7_made_within_one_millisecond_still_sort_in_order() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(value.version == 7 for value in ids)
    assert all(value.variant == "specified in RFC 4122" for value in ids)


def test_the_time_of_a_uuid7_is_when_it_was_made() -> None:
    made = time.time()
    assert abs((uuid7_time(uuid7()) or 0) - made) < 1
    assert uuid7_time(uuid.uuid4()) is None
