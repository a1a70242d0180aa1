"""Real worker processes for tests: started from their entry points (in this virtualenv's `BIN`),
ready when their log says so, stopped (and reaped) afterwards; and what their JSON logs say."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The folder of this interpreter's virtualenv, where every entry point is installed.
BIN = Path(sys.executable).parent


def python_says(
    program: str, *args: str, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> str:
    """The last line `program` prints, run with `args` in a fresh interpreter (whose imports and
    process-wide settings then start from nothing); its stderr in the error if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"the program exited {done.returncode}:\n{done.stderr[-5000:]}")
    return done.stdout.strip().splitlines()[-1]


def wait_for_log(
    log_path: Path, needle: str, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process exited early:\n{log_path.read_text()[-5000:]}")
        if log_path.exists() and needle in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(
        f"no {needle!r} in the log after {timeout} s:\n{log_path.read_text()[-5000:]}"
    )


@contextmanager
def worker_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    ready: str = " ready.",
    timeout: float = 90.0,
    grace: float = 10.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker in its own process group (its pool children die with it)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_log(log_path, ready, process, timeout)
        yield process
    finally:
        stop_group(process, grace)


def stop_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a process's log (Celery's banner and other plain text skipped)."""
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def wait_for_lines(path: Path, seconds: float = 30, **fields: Any) -> list[dict[str, Any]]:
    """The log lines carrying every one of `fields`, once there is at least one."""
    deadline = time.monotonic() + seconds
    while True:
        found = [
            line
            for line in log_lines(path)
            if all(line.get(key) == value for key, value in fields.items())
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
