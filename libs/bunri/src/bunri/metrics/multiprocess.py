"""prometheus_client's multiprocess mode, for a worker whose pool children observe and whose
parent serves `/metrics`: every process writes its figures to memory-mapped files in one
directory, and the parent adds them up at each scrape.

The directory must be set before prometheus_client is first imported (the AI worker's launcher
does it before Celery starts), belong to one worker alone, and start empty: files left by an
earlier run would be added to this one's figures.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from prometheus_client import multiprocess

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Live gauges (tasks in progress) are the only figures that must vanish with their process.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


def prepare_multiprocess_dir(directory: Path) -> None:
    """Empty (or create) `directory` and make it this process's and its children's."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)


def mark_process_dead(pid: int) -> None:
    """Drop what process `pid` reported in live gauges (it has exited)."""
    directory = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if directory:
        multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def forget_dead_processes(directory: str) -> None:
    """Also for children that could not say so themselves (SIGKILLed, out of memory)."""
    pids = set()
    for name in os.listdir(directory):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match:
            pids.add(int(match.group(1)))
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
