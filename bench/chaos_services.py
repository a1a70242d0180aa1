"""The chaos run's own RabbitMQ node, PostgreSQL cluster and versioned S3 bucket.

The RabbitMQ on 5672 and the PostgreSQL on 5432 serve the test suite and other sessions at the same
time; this run stops and restarts its broker and its database, so it brings up private ones: a
second RabbitMQ node (own node name, ports, data, logs and Erlang cookie) and a second PostgreSQL
cluster (own data directory, port and socket directory), both on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3

from tests.support.servers import free_port

# The /usr/sbin wrappers `su` to the rabbitmq user and `cd` to its home; the scripts behind them
# run as any user and honour every RABBITMQ_* variable given.
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
POSTGRES_USER = "postgres"


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def rabbitmq_script(name: str) -> str:
    script = RABBITMQ_SCRIPTS / name
    return str(script) if script.exists() else name


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process group `process` leads (started with start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


class PrivateRabbit:
    """A RabbitMQ node of this run's own, which it can stop and start again on the same data
    directory (so durable queues and persistent messages survive the restart)."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.node = f"bunri-chaos-{os.getpid()}@localhost"
        # RabbitMQ would take NODE_PORT + 20000 for distribution: on 5672 that is the shared
        # node's 25672, so both ports are chosen here.
        self.port, self.dist_port = distinct_free_ports(2)
        self._home = data / "rabbitmq-home"
        self._mnesia = data / "rabbitmq-mnesia"
        self._logs = logs / "rabbitmq"
        self._process: subprocess.Popen[bytes] | None = None
        for folder in (self._home, self._mnesia, self._logs):
            folder.mkdir(parents=True, exist_ok=True)
        # No plugins (no management UI) and no settings from /etc/rabbitmq, whose
        # rabbitmq-env.conf names the shared node.
        (self._home / "enabled_plugins").write_text("[].\n")
        (self._home / "rabbitmq-env.conf").write_text("")
        (self._home / "rabbitmq.conf").write_text("# the chaos run's private node\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            # Erlang reads (and on first start writes) the cookie in $HOME: a private one.
            "HOME": str(self._home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self._mnesia),
            "RABBITMQ_LOG_BASE": str(self._logs),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._home / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self._home / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self._home / "rabbitmq.conf"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        command = [rabbitmq_script("rabbitmqctl"), "-n", self.node, *args]
        return subprocess.run(
            command, env=self._env(), capture_output=True, check=False, timeout=timeout
        )

    def start(self, timeout: float = 120) -> None:
        with (self._logs / "server.out").open("ab") as out:
            self._process = subprocess.Popen(
                [rabbitmq_script("rabbitmq-server")],
                env=self._env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        # await_startup fails at once while the node is not yet registered with epmd: ask again.
        while self.ctl("await_startup", "--timeout", "30", timeout=45).returncode != 0:
            if self._process.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited; see {self._logs}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} did not start; see {self._logs}")
            time.sleep(0.5)

    def stop(self, timeout: float = 60) -> None:
        """Stop the node fully (the Erlang VM exits), as `systemctl stop` would."""
        if self._process is None or self._process.poll() is not None:
            return
        self.ctl("stop", timeout=timeout)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(self._process)
            self._process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        try:
            self.stop(timeout=30)
        finally:
            if self._process is not None and self._process.poll() is None:
                kill_group(self._process)
                self._process.wait()


class PrivatePostgres:
    """A PostgreSQL cluster of this run's own, with trust authentication on loopback."""

    def __init__(self, data: Path, logs: Path, database: str = "bunri_chaos") -> None:
        self.port = free_port()
        self.database = database
        self._bin = postgres_bin()
        self._data = data / "postgres"
        self._socket_dir = data / "postgres-socket"
        self._log_dir = logs / "postgres"
        self._log = self._log_dir / "postgres.log"
        self._running = False

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *command: str, timeout: float = 120) -> None:
        # initdb and postgres refuse to run as root: as root, run them as the postgres user.
        prefix = ["runuser", "-u", POSTGRES_USER, "--"] if os.geteuid() == 0 else []
        with (self._log_dir / "pg_ctl.out").open("ab") as out:
            subprocess.run(
                [*prefix, *command],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=timeout,
                # The postmaster pg_ctl leaves behind must not get the terminal's Ctrl-C.
                start_new_session=True,
                cwd="/",
            )

    def init(self) -> None:
        for folder in (self._data, self._socket_dir, self._log_dir):
            folder.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
        self._run(
            str(self._bin / "initdb"),
            *("-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            "--no-sync",
        )

    def start(self) -> None:
        options = [
            f"-p {self.port}",
            f"-k {self._socket_dir}",
            "-c listen_addresses=127.0.0.1",
            # Every party's pool at once, plus the connections of killed workers not yet noticed.
            "-c max_connections=300",
            # The outage is a clean stop (pg_ctl stop -m fast), never a power cut: durability of
            # the disk writes is not what this run tests, and fsync would slow this VM.
            "-c fsync=off",
        ]
        self._run(
            str(self._bin / "pg_ctl"),
            *("-D", str(self._data), "-l", str(self._log), "-o", " ".join(options)),
            *("-w", "-t", "60", "start"),
        )
        self._running = True

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", mode, "-w", "stop")
        self._running = False

    def close(self) -> None:
        if self._running:
            self.stop("immediate")


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them out of PATH)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3])
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("no PostgreSQL server programs (initdb, pg_ctl) found")
    return Path(initdb).parent


def versioned_bucket(endpoint: str, bucket: str, keys: dict[str, str]) -> Any:
    """Create `bucket` with versioning on, so that writing a key twice leaves two versions to
    count; returns the S3 client."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["BUNRI_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["BUNRI_S3_SECRET_ACCESS_KEY"],
    )
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return s3
