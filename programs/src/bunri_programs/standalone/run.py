"""Start everything on one machine: migrate, import the sample collection points (where the
database has PostGIS), spawn the three workers, serve auth-api, scan-api, chat-api, my-api,
character-api, location-api and info-api behind one base URL, make sure a demo account exists, and
print how to use it."""

from __future__ import annotations

import asyncio
import ctypes
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import uvicorn

from bunri import migrations
from bunri.logging import configure_logging, get_logger
from bunri.settings import BrokerSettings
from bunri_programs.client.credentials import demo_login_path, save_tokens
from bunri_programs.standalone.sample_points import import_sample_points

log = get_logger(__name__)

# What it serves and starts: the packages of bunri-programs[standalone].
PARTS = (
    "auth_api",
    "scan_api",
    "chat_api",
    "my_api",
    "character_api",
    "location_api",
    "info_api",
    "storage_worker",
    "ai_worker",
    "character_worker",
)
DEMO_EMAIL = "demo@bunri.example"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/bunri"
MAX_HEADER_BYTES = 32 * 1024


def missing_parts() -> list[str]:
    """The PARTS this install lacks (an install of bunri-programs without its standalone extra,
    such as the ops image)."""
    missing = []
    for part in PARTS:
        try:
            found = importlib.util.find_spec(part)
        except ModuleNotFoundError:
            found = None
        if found is None:
            missing.append(part)
    return missing


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Plan:
    """What standalone will use, and which parts are the embedded stand-ins."""

    env: dict[str, str]
    embedded: list[str] = field(default_factory=list)
    real: list[str] = field(default_factory=list)
    locations: str = ""  # the banner's line: the sample points imported, or why locations are off


def plan(state_dir: Path, host: str, port: int) -> Plan:
    base_url = f"http://{host}:{port}"
    env = {
        "BUNRI_ENVIRONMENT": os.environ.get("BUNRI_ENVIRONMENT", "development"),
        "BUNRI_STATE_DIR": str(state_dir),
        "BUNRI_AUTH_JWKS_URL": f"{base_url}/.well-known/jwks.json",
        "BUNRI_PUBLIC_BASE_URL": base_url,
        "BUNRI_STORAGE_WORKER_CONCURRENCY": os.environ.get(
            "BUNRI_STORAGE_WORKER_CONCURRENCY", "10"
        ),
        "BUNRI_AI_WORKER_CONCURRENCY": os.environ.get("BUNRI_AI_WORKER_CONCURRENCY", "1"),
        "BUNRI_CHARACTER_WORKER_CONCURRENCY": os.environ.get(
            "BUNRI_CHARACTER_WORKER_CONCURRENCY", "1"
        ),
    }
    result = Plan(env)
    if "BUNRI_DATABASE_URL" in os.environ:
        result.real.append("database: BUNRI_DATABASE_URL")
    elif _postgres_accepts(POSTGRES):
        env["BUNRI_DATABASE_URL"] = POSTGRES
        result.real.append("database: PostgreSQL on 127.0.0.1:5432")
    else:
        env["BUNRI_DATABASE_URL"] = f"sqlite+aiosqlite:///{state_dir / 'bunri.db'}"
        result.embedded.append(f"database: SQLite at {state_dir / 'bunri.db'}")
    if os.environ.get("BUNRI_BROKER_URL", "").startswith("filesystem://"):
        result.embedded.append(f"broker: message files under {state_dir / 'broker'}")
    elif "BUNRI_BROKER_URL" in os.environ:
        result.real.append(f"broker: {os.environ['BUNRI_BROKER_URL'].split('@')[-1]}")
    elif _answers("127.0.0.1", 5672):
        env["BUNRI_BROKER_URL"] = RABBITMQ
        result.real.append("broker: RabbitMQ on 127.0.0.1:5672")
    else:
        env["BUNRI_BROKER_URL"] = "filesystem://"
        result.embedded.append(f"broker: message files under {state_dir / 'broker'}")
    if "BUNRI_S3_BUCKET" in os.environ:
        result.real.append(f"objects: S3 bucket {os.environ['BUNRI_S3_BUCKET']}")
    else:
        result.embedded.append(f"objects: files under {state_dir / 'objects'}")
    result.real.append(f"redis: {os.environ.get('BUNRI_REDIS_URL', 'redis://127.0.0.1:6379/0')}")
    return result


def _postgres_accepts(url: str) -> bool:
    """Whether a local PostgreSQL lets us in as it is (trust authentication, as on a developer's
    machine); anything else means the embedded SQLite."""
    import asyncpg

    async def probe() -> bool:
        try:
            connection = await asyncpg.connect(
                url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres",
                timeout=2,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await connection.close()
        return True

    return _answers("127.0.0.1", 5432) and asyncio.run(probe())


class Workers:
    """The storage, AI and character workers (and, with RabbitMQ, the reaper of its dead-letter
    queues) as child processes, restarted if they die."""

    COMMANDS: ClassVar[dict[str, list[str]]] = {
        "storage": ["bunri-storage-worker"],
        "ai": ["bunri-ai-worker"],
        "character": ["bunri-character-worker"],
        "reaper": ["bunri", "reaper"],
    }

    def __init__(self, logs: Path, *, reaper: bool) -> None:
        self._logs = logs
        self._names = [name for name in self.COMMANDS if reaper or name != "reaper"]
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._restarts = dict.fromkeys(self._names, 0)
        self._stopping = False

    def start(self) -> None:
        for name in self._names:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        binary, *arguments = self.COMMANDS[name]
        command = [str(Path(sys.executable).parent / binary), *arguments]
        log_name = name if name == "reaper" else f"{name}-worker"
        with (self._logs / f"{log_name}.log").open("ab") as log_file:
            self._processes[name] = subprocess.Popen(  # noqa: S603 (our own entry points)
                command,
                env={**os.environ, "BUNRI_LOG_JSON": "true", "BUNRI_LOG_LEVEL": "INFO"},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_stop_with_parent,
            )

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(2)
            for name, process in self._processes.items():
                # A worker that exits because stop() asked it to is not restarted.
                if self._stopping:
                    return
                if process.poll() is not None and self._restarts[name] < 5:
                    self._restarts[name] += 1
                    log.warning("worker exited; restarting", worker=name, code=process.returncode)
                    self._spawn(name)

    def stop(self) -> None:
        self._stopping = True
        for process in self._processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 8
        for process in self._processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _stop_with_parent() -> None:
    """In the child, before exec: the kernel sends it SIGTERM (a Celery warm shutdown) if this
    process dies, even by SIGKILL, so that no worker outlives the platform that started it."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def run_standalone(state_dir: Path, host: str, port: int) -> None:
    state_dir = state_dir.resolve()
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    chosen = plan(state_dir, host, port)
    os.environ.update(chosen.env)  # the in-process services and the workers read these
    # The console is for the banner and warnings; workers log JSON to their files.
    os.environ.setdefault("BUNRI_LOG_LEVEL", "WARNING")
    os.environ.setdefault("BUNRI_LOG_JSON", "false")
    configure_logging(service="standalone", level="WARNING", json=False)
    redis_url = os.environ.get("BUNRI_REDIS_URL", "redis://127.0.0.1:6379/0")
    redis_at = urlsplit(redis_url)
    if not _answers(redis_at.hostname or "127.0.0.1", redis_at.port or 6379):
        sys.exit(
            f"bunri standalone needs Redis at {redis_url} (set BUNRI_REDIS_URL); "
            "start one with: redis-server --daemonize yes"
        )
    asyncio.run(_migrate(os.environ["BUNRI_DATABASE_URL"]))
    chosen.locations = asyncio.run(import_sample_points(os.environ["BUNRI_DATABASE_URL"]))
    workers = Workers(logs, reaper=BrokerSettings().uses_amqp)
    workers.start()
    try:
        asyncio.run(_serve(host, port, chosen, state_dir, workers))
    finally:
        workers.stop()


async def _migrate(url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    await migrations.create_database_if_missing(url)
    engine = create_async_engine(url, poolclass=NullPool)
    async with engine.begin() as connection:
        await migrations.upgrade(connection)
    await engine.dispose()


def _gateway() -> Any:
    from auth_api.app import create_app as create_auth_app
    from bunri_programs.standalone.gateway import PathRouter, route
    from character_api.app import create_app as create_character_app
    from chat_api.app import create_app as create_chat_app
    from info_api.app import create_app as create_info_app
    from location_api.app import create_app as create_location_app
    from my_api.app import create_app as create_my_app
    from scan_api.app import create_app as create_scan_app

    routes = [
        route("auth-api", create_auth_app()),
        route("scan-api", create_scan_app()),
        route("chat-api", create_chat_app()),
        route("my-api", create_my_app()),
        route("character-api", create_character_app()),
        route("location-api", create_location_app()),
        route("info-api", create_info_app()),
    ]
    # Each app named itself the default service of every log line; lines outside a request
    # (workers' supervision, lifespans) are the gateway's.
    settings = BrokerSettings()
    configure_logging(service="standalone", level=settings.log_level, json=settings.log_json)
    return PathRouter(routes, body_read_timeout=settings.gateway_body_timeout_seconds)


class _PlatformServer(uvicorn.Server):
    """Stops the workers as part of its own shutdown: after a SIGTERM or Ctrl-C, uvicorn raises
    the signal again once it has shut down, which ends this process before any code after it."""

    def __init__(self, config: uvicorn.Config, workers: Workers) -> None:
        super().__init__(config)
        self._workers = workers

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        await asyncio.to_thread(self._workers.stop)


async def _serve(host: str, port: int, chosen: Plan, state_dir: Path, workers: Workers) -> None:
    server = _PlatformServer(
        uvicorn.Config(
            _gateway(),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            ws_max_size=BrokerSettings().ws_max_bytes,
            # The edge itself: no proxy in front whose X-Forwarded-For could be trusted, and
            # the rate limits key on the address the connection comes from.
            proxy_headers=False,
            server_header=False,
            # h11 bounds a request's headers (httptools reads any size): nginx's 4 x 8 KiB.
            http="h11",
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        ),
        workers,
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    base_url = f"http://{host}:{port}"
    login = await _ensure_demo_account(base_url, state_dir)
    _print_banner(base_url, login, chosen, state_dir)
    watching = asyncio.create_task(workers.watch())
    try:
        await serving
    finally:
        watching.cancel()


async def _ensure_demo_account(base_url: str, state_dir: Path) -> dict[str, str]:
    path = demo_login_path(state_dir)
    login = (
        json.loads(path.read_text())
        if path.exists()
        else {"email": DEMO_EMAIL, "password": secrets.token_urlsafe(12)}
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await client.post("/api/v1/auth/signup", json=login | {"nickname": "데모 demo"})
        tokens = await client.post("/api/v1/auth/login", json=login)
        if tokens.status_code == 401:
            await _reset_demo_password(login["password"])
            tokens = await client.post("/api/v1/auth/login", json=login)
    if tokens.status_code != 200:
        sys.exit(f"the demo account could not sign in: {tokens.text}")
    path.write_text(json.dumps(login))
    os.chmod(path, 0o600)
    save_tokens(base_url, tokens.json())  # so `bunri scan` works straight away
    return dict(login)


async def _reset_demo_password(password: str) -> None:
    """The demo account was made by another state folder on the same database, with a password
    this one never saw. It is standalone's own account: it gets this folder's password."""
    from sqlalchemy import update
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from auth_api.passwords import PasswordHasher
    from auth_api.settings import AuthApiSettings
    from bunri.db.models import User

    settings = AuthApiSettings()
    password_hash = await PasswordHasher(settings).hash(password)
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    async with engine.begin() as connection:
        await connection.execute(
            update(User).where(User.email == DEMO_EMAIL).values(password_hash=password_hash)
        )
    await engine.dispose()


def _print_banner(base_url: str, login: dict[str, str], chosen: Plan, state_dir: Path) -> None:
    lines = [
        "",
        f"  Bunri is running at {base_url}",
        f"  API docs:  {base_url}/api/v1/scans/docs   {base_url}/api/v1/auth/docs",
        f"  demo login: {login['email']} / {login['password']}",
        "  try:       bunri scan path/to/photo.jpg",
        "",
        *(f"  real:      {part}" for part in chosen.real),
        *(f"  embedded:  {part}" for part in chosen.embedded),
        f"  locations: {chosen.locations}",
        f"  logs:      {state_dir / 'logs'}",
        "  stop:      Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)  # noqa: T201
