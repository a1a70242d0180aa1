from __future__ import annotations

import time

from bunri.ids import uuid7


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
