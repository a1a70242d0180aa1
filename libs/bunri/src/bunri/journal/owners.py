"""Whether the process that last touched a journal row is still running it: the pid must exist
and have started before the row was written (a recycled pid belongs to a newer process)."""

from __future__ import annotations

import os
from functools import cache


def owner_alive(pid: int | None, *, since: float) -> bool:
    if not pid:
        return False
    started = process_start_time(pid)
    return started is not None and started <= since + 1.0


def process_start_time(pid: int) -> float | None:
    """The process's start as a Unix time (Linux /proc), or None if there is no such process.
    Elsewhere, any existing pid counts as started long ago."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists_elsewhere(pid)
    # Field 22 of stat (starttime, in clock ticks since boot); 20 after the command's ")".
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _exists_elsewhere(pid: int) -> float | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return 0.0


@cache
def _boot_time() -> float:
    with open("/proc/stat") as stat:
        for line in stat:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0
