"""glibc's allocator tuned for a process that reads whole uploads into memory.

By default glibc serves a block over its mmap threshold (128 KiB at first) with its own mmap and
gives it back on free, and trims the heap's top whenever 128 KiB lie free there: every request
that carries a 400 KB photo then faults its buffers in afresh, about 100 page faults and 0.2-0.4
ms of kernel time per upload on this machine. Raising both thresholds keeps freed upload buffers
for the next request (4 faults per upload), at the price of holding on to a few uploads' worth of
freed memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys

from bunri.logging import get_logger

log = get_logger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses a larger mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX).
_MAX_MMAP_THRESHOLD = 32 * 1024 * 1024
# Freed memory kept at the heap's top before any goes back: this many of the largest uploads
# (each is copied a few times on its way: body, part, message).
_UPLOADS_KEPT = 4


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_freed_upload_buffers(largest_upload_bytes: int) -> bool:
    """Whether the allocator took the settings (False off glibc: nothing to tune there)."""
    mmap_threshold = min(largest_upload_bytes, _MAX_MMAP_THRESHOLD)
    trim_threshold = _UPLOADS_KEPT * mmap_threshold
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)  # musl has none
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    taken = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold)
    )
    if not taken:
        log.warning("malloc thresholds not taken", mmap_threshold=mmap_threshold)
    return taken


def settle_before_fork() -> None:
    """Make the memory a process is about to fork share well with its children.

    Freed blocks still in glibc's heap are handed out again later: a write into one by the
    parent copies the page it shares with every child forked before (and the children then
    each hold a private copy of garbage), and a child reusing one copies it too. Loading a model
    frees hundreds of MiB this way (the checkpoint read, then copied into the weights), so they
    go back to the kernel first. `gc.freeze` keeps the collector from writing into every
    object's header in each child.
    """
    gc.collect()
    gc.freeze()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
