"""The chaos itself: workers kept running the way systemd keeps a service (Restart=always,
RestartSec=1) while a killer SIGKILLs them at random moments, and the broker restart and the
database outage, each once, at random moments of the submission phase."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.chaos_services import PrivatePostgres, PrivateRabbit, kill_group

log = logging.getLogger("chaos")


class Supervised:
    """One worker process, started again `restart_delay` seconds after it dies, whatever killed
    it, until `stop`. Its own session, so that killpg reaches its pool children too."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        restart_delay: float = 1.0,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._command = command
        self._env = env
        self._restart_delay = restart_delay
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._expected_deaths = 0
        self.crashes = 0  # deaths nobody here caused
        self._thread = threading.Thread(target=self._keep_running, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def process(self) -> subprocess.Popen[bytes] | None:
        """The running process, if one is up now."""
        with self._lock:
            process = self._process
        return process if process is not None and process.poll() is None else None

    def expect_death(self) -> None:
        """The next death is the killer's, not a crash."""
        with self._lock:
            self._expected_deaths += 1

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            with self.log_path.open("ab") as out:
                self._process = subprocess.Popen(
                    self._command,
                    env=self._env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            return self._process

    def _keep_running(self) -> None:
        while (process := self._spawn()) is not None:
            log.info("%s: started pid %d", self.name, process.pid)
            code = process.wait()
            # Whatever the main process left behind (pool children) goes with it, as systemd's
            # KillMode=control-group does.
            kill_group(process)
            with self._lock:
                expected = self._expected_deaths > 0
                self._expected_deaths = max(0, self._expected_deaths - 1)
            if self._stopping.is_set():
                return
            if not expected:
                self.crashes += 1
            log.info("%s: pid %d exited (%s)", self.name, process.pid, code)
            self._stopping.wait(self._restart_delay)

    def stop(self, timeout: float = 15) -> None:
        self._stopping.set()
        process = self.process()
        if process is not None:
            kill_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                kill_group(process)
        self._thread.join(timeout + 5)


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc/*/stat (psutil-free)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


class WorkerKiller:
    """SIGKILLs a worker every `interval` (uniform) seconds, storage, AI and character in turn.
    The storage worker is one eventlet process: killed whole. The AI and character workers (Celery
    prefork) alternate between losing one pool child (Celery's parent replaces it) and losing
    their whole process group."""

    def __init__(
        self,
        storage: Supervised,
        ai: Supervised,
        character: Supervised,
        interval: tuple[float, float],
        rng: random.Random,
    ) -> None:
        self.kills: Counter[str] = Counter()
        self._storage = storage
        self._ai = ai
        self._character = character
        self._interval = interval
        self._rng = rng
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="killer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        kill: tuple[Callable[[], bool], ...] = (
            lambda: self._kill_whole(self._storage, "storage"),
            lambda: self._kill_child(self._ai, "ai-child"),
            lambda: self._kill_child(self._character, "character-child"),
            lambda: self._kill_whole(self._storage, "storage"),
            lambda: self._kill_whole(self._ai, "ai-group"),
            lambda: self._kill_whole(self._character, "character-group"),
        )
        turn = self._rng.randrange(len(kill))
        while not self._stopping.wait(self._rng.uniform(*self._interval)):
            if kill[turn % len(kill)]():
                turn += 1

    def _kill_whole(self, worker: Supervised, kind: str) -> bool:
        process = worker.process()
        if process is None:
            return False  # between a death and its restart: try again next time
        worker.expect_death()
        kill_group(process)
        self.kills[kind] += 1
        log.info("killed %s pid %d (%s)", worker.name, process.pid, kind)
        return True

    def _kill_child(self, worker: Supervised, kind: str) -> bool:
        process = worker.process()
        children = child_pids(process.pid) if process is not None else []
        if not children:
            return False  # the worker is still starting: its pool's turn comes next time
        child = self._rng.choice(children)
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills[kind] += 1
        log.info("killed %s pool child pid %d (%s)", worker.name, child, kind)
        return True


class Disruptions:
    """The broker restart and the database outage, once each, one after the other (never
    overlapping), in random order at random moments of the first part of the submission phase,
    so both are over before the scans drain."""

    def __init__(
        self,
        rabbit: PrivateRabbit,
        postgres: PrivatePostgres,
        submission_seconds: float,
        outage_seconds: float,
        rng: random.Random,
    ) -> None:
        self.rabbitmq_restarts = 0
        self.postgres_outage_seconds = 0.0
        self.errors: list[str] = []
        self._rabbit = rabbit
        self._postgres = postgres
        self._span = submission_seconds
        self._outage = outage_seconds
        self._rng = rng
        self._aborting = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disruptions", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def abort(self) -> None:
        self._aborting.set()
        self._thread.join()

    def _run(self) -> None:
        actions: list[Callable[[], None]] = [self._restart_rabbitmq, self._postgres_outage]
        self._rng.shuffle(actions)
        for action in actions:
            if self._aborting.wait(self._rng.uniform(0.1, 0.25) * self._span):
                return
            try:
                action()
            except Exception as exc:  # the run cannot go on as planned: the verdict says why
                log.exception("chaos action failed")
                self.errors.append(f"{action.__name__}: {exc!r}")

    def _restart_rabbitmq(self) -> None:
        log.info("RabbitMQ: stopping the node")
        began = time.monotonic()
        self._rabbit.restart()
        self.rabbitmq_restarts += 1
        log.info("RabbitMQ: back after %.1f s", time.monotonic() - began)

    def _postgres_outage(self) -> None:
        log.info("PostgreSQL: stopping for %.0f s", self._outage)
        self._postgres.stop("fast")
        began = time.monotonic()
        try:
            self._aborting.wait(self._outage)
        finally:
            self._postgres.start()
            self.postgres_outage_seconds = time.monotonic() - began
        log.info("PostgreSQL: back after %.1f s", self.postgres_outage_seconds)
