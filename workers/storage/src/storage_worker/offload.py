"""CPU-bound work off the eventlet hub: a green thread that decodes a 12 MP photo would stall
every other green thread (and their S3 uploads) for the whole decode."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


def run_off_hub(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `function` in eventlet's OS thread pool when eventlet runs this process (Pillow
    releases the GIL while decoding and resizing), else just call it."""
    if "eventlet" in sys.modules:
        from eventlet import patcher, tpool

        if patcher.is_monkey_patched("socket"):
            result: T = tpool.execute(function, *args, **kwargs)
            return result
    return function(*args, **kwargs)
