"""bunri.once: a shared client is built once, even when the first callers come all at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bunri.once import once


def test_concurrent_first_calls_share_one_build() -> None:
    builds: list[object] = []
    start = threading.Barrier(8)

    @once
    def client() -> object:
        builds.append(made := object())
        time.sleep(0.05)  # connecting: the other callers arrive meanwhile
        return made

    def first_task() -> object:
        start.wait()
        return client()

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: first_task(), range(8)))
    assert len(builds) == 1
    assert all(each is builds[0] for each in got)


def test_a_failed_build_is_tried_again_on_the_next_call() -> None:
    attempts = 0

    @once
    def client() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("not yet")
        return "connected"

    with pytest.raises(ConnectionError):
        client()
    assert client() == "connected"
    assert client() == "connected"
    assert attempts == 2
