"""The storage worker on the eventlet pool vs prefork vs threads, on the same work (issue 7).

For each pool, concurrency and S3 latency: N scans are put in the database as `queued` and their
`scan.store_image` messages published, exactly as scan-api does (its row, its message builder
`store_image_message`, the same confirmed publisher), all of them BEFORE the worker starts, so
that the worker's throughput is measured and not the submit rate. Then the real storage worker
starts with that pool and works through the queue: EXIF orientation, metadata stripped,
re-encode, thumbnail, two conditional PUTs to S3, the scan row moved to `stored` in PostgreSQL,
progress to Redis, the analysis image handed to `scan.ai_analysis` (nothing consumes it here:
purged after each run). The photo is bench.e2e's: a 390 KB JPEG, 1138 x 853, ~26 ms of CPU to
normalise.

S3 is moto on loopback behind `bench.latency_proxy`, which answers every request either at once
(moto's own ~5 ms) or 20 ms later, as S3 does for a PUT from EC2 (10-30 ms).

Measured per run, all over one window, from the first `stored` transition to the last (the rows'
`updated_at`, which the worker sets as it moves a scan), so that the worker's start-up and each
pool thread's or child's first-use set-up are left out:
- images/s: (stored - 1) / the window;
- the worker's CPU, all its processes, per image;
- the CPU of the S3 stand-in (moto and the proxy, ~8 ms a PUT), which shares the two cores;
- how busy the machine's cores were (everything: PostgreSQL, RabbitMQ, anyone else's work): near
  100 %, the cores were the limit, and only CPU per image tells the pools apart;
and the worker's peak memory over the whole run, PSS and RSS summed over its processes (sampled
every 0.2 s): PSS counts the pages a prefork pool's children share with their parent once, RSS
counts them in every process.

The pools, and why these concurrencies (2 cores here; each image needs ~26 ms of CPU for the
image work, ~15 ms for the rest, and waits 2 x the S3 latency for its PUTs):
- eventlet, 100: production's (`bunri-storage-worker`, BUNRI_STORAGE_WORKER_CONCURRENCY's
  default). Green threads overlap the waits; the image work goes to eventlet's OS-thread pool,
  BUNRI_IMAGE_DECODE_CONCURRENCY (2) at a time; everything else runs on the one hub thread.
- prefork, 2 (= cores): one process per core, the usual choice for CPU-bound tasks; but each
  child sits idle through its own S3, database and broker waits.
- prefork, 4 (= 2 x cores): enough children for one to compute while another waits (at 20 ms a
  PUT, an image waits ~40 ms on S3 for ~40 ms of CPU).
- threads, 8: Pillow lets go of the GIL while it decodes, resizes and encodes, so two threads'
  image work can use both cores; by Little's law ~25 images/s x ~0.1-0.2 s each = 3-5 in flight,
  so 8 covers the waits with room to spare.
- threads, 32: well past that, for what more threads cost (GIL hand-offs, memory).
BUNRI_IMAGE_DECODE_CONCURRENCY bounds the image work per process: 2 at a time in the eventlet and
threads workers, but one per child under prefork (4 at once with 4 children).

The eventlet worker is started as production starts it (`bunri-storage-worker`). The others run
the same launcher (`bunri.worker.launch.exec_celery_worker`: same queue, name and flags) with only
the pool changed. `bunri-storage-worker -P prefork -c 4` would not do: Celery monkey-patches for
the FIRST `-P` on its command line (`celery.maybe_patch_concurrency`) while click keeps the last,
which makes a prefork pool in an eventlet-patched process. They also leave psycopg its C wait
function, which `bunri-storage-worker` swaps for the pure-Python one only because the C one would
block the eventlet hub.

The worker's shared clients (`service()`, `ledger()`, `object_store()`) are built once per
process (`bunri.once`) even when a threads pool's first wave of tasks asks for them at the same
moment.

    .venv/bin/python -m bench.storage_pools [--images 200] [--pools eventlet:100 threads:8]
        [--latencies 0 20] [--rounds 1] [--logs DIR]

`run_matrix` returns the figures as `PoolRun`s, for a report to tabulate and plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import redis
from sqlalchemy import Engine, create_engine, delete, func, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench.stack import BIN, DATABASE_URL, base_env, bench_vhost, migrate, process, purge
from bunri.db.base import utcnow
from bunri.db.models import Scan, ScanStatus, User
from bunri.db.sync import sync_url
from bunri.ids import uuid7
from bunri.images import inspect_upload
from bunri.logging import configure_logging
from bunri.messaging.publisher import TaskPublisher
from bunri.messaging.topology import AI_ANALYSIS, IMAGE_UPLOAD
from bunri.scans.events import stream_key
from scan_api.service import queued_scan_row, request_digest, store_image_message
from scan_api.settings import ScanApiSettings
from tests.support.pictures import photo_of_size
from tests.support.processes import wait_for_log
from tests.support.servers import free_port

VHOST = "bunri_bench_storage"  # its own: another benchmark may use bench.stack's at the same time
REDIS_URL = "redis://127.0.0.1:6379/12"
BUCKET = "bunri-bench-storage"
IMAGE_BYTES = 390 * 1024  # the photo bench.e2e and bench.accept upload (1138 x 853 JPEG)
DEFAULT_IMAGES = 200
DEFAULT_POOLS = ("eventlet:100", "prefork:2", "prefork:4", "threads:8", "threads:32")
DEFAULT_LATENCIES_MS = (0.0, 20.0)
# The priority scan-api publishes a scan with, unless configured otherwise.
SCAN_PRIORITY: int = ScanApiSettings.model_fields["scan_priority"].default
# How long a run may go without a scan finishing before it is given up.
STALL_SECONDS = 60.0
SAMPLE_INTERVAL_SECONDS = 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The pools other than eventlet: `storage_worker.main.main` with only the pool changed (and
# psycopg's default wait function, see the module's docstring). The pool is taken off argv,
# whose rest `exec_celery_worker` hands on to Celery.
LAUNCH_WITH_POOL = """
import sys
from bunri.worker.launch import exec_celery_worker
from storage_worker.main import QUEUES
from storage_worker.settings import StorageWorkerSettings
settings = StorageWorkerSettings()
pool = sys.argv.pop(1)
exec_celery_worker(
    "storage_worker.app", pool=pool, concurrency=settings.storage_worker_concurrency,
    queue=QUEUES, name="storage", log_level=settings.log_level,
)
"""


@dataclass(frozen=True)
class PoolSetting:
    pool: str
    concurrency: int

    @classmethod
    def parse(cls, text: str) -> PoolSetting:
        """`eventlet:100`, `prefork:2`, `threads:8`."""
        pool, _, concurrency = text.partition(":")
        if pool not in ("eventlet", "prefork", "threads") or not concurrency.isdigit():
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected POOL:CONCURRENCY, POOL one of eventlet, prefork, threads"
            )
        return cls(pool, int(concurrency))

    def worker_command(self) -> list[str]:
        if self.pool == "eventlet":
            return [str(BIN / "bunri-storage-worker")]  # as production runs it
        return [sys.executable, "-c", LAUNCH_WITH_POOL, self.pool]


@dataclass(frozen=True)
class PoolRun:
    pool: str
    concurrency: int
    s3_latency_ms: float
    round_number: int  # 1, 2, ... with --rounds
    images: int  # queued
    stored: int
    failed: int
    first_to_last_stored_seconds: float
    ready_to_last_stored_seconds: float
    worker_cpu_seconds: float  # from the first `stored` to the last, as images/s
    peak_pss_mib: float  # summed over the worker's processes
    peak_rss_mib: float
    worker_processes: int
    s3_cpu_seconds: float  # moto and the latency proxy (same two cores), same window
    # All cores, everything on the machine (PostgreSQL, RabbitMQ, anyone else's work), same
    # window: near 1, the cores were the limit.
    machine_busy_fraction: float

    @property
    def images_per_second(self) -> float:
        if self.stored < 2 or self.first_to_last_stored_seconds <= 0:
            return 0.0
        return (self.stored - 1) / self.first_to_last_stored_seconds

    @property
    def cpu_ms_per_image(self) -> float:
        """The worker's CPU for each image stored after the first (its window's images)."""
        return self.worker_cpu_seconds * 1000 / max(self.stored - 1, 1)

    def line(self) -> str:
        unfinished = self.images - self.stored - self.failed
        trouble = f"  {self.failed} failed" if self.failed else ""
        trouble += f"  {unfinished} unfinished" if unfinished else ""
        return (
            f"{self.pool:<8} c={self.concurrency:<3} S3 +{self.s3_latency_ms:2.0f} ms  "
            f"{self.images_per_second:5.1f} images/s  "
            f"({self.stored} in {self.first_to_last_stored_seconds:4.1f} s, "
            f"{self.ready_to_last_stored_seconds:4.1f} s from ready)  "
            f"CPU {self.worker_cpu_seconds:4.1f} s = {self.cpu_ms_per_image:3.0f} ms/image  "
            f"peak PSS {self.peak_pss_mib:4.0f} MiB  RSS {self.peak_rss_mib:4.0f} MiB "
            f"({self.worker_processes} proc)  S3 stand-in CPU {self.s3_cpu_seconds:4.1f} s  "
            f"machine busy {self.machine_busy_fraction:4.0%}"
            f"{trouble}"
        )


# -- the processes' figures, from /proc ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass  # it has just exited
    return found


def process_tree(pid: int) -> list[int]:
    tree = [pid]
    for child in _children(pid):
        tree += process_tree(child)
    return tree


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of one process, in clock ticks; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # After the command name (which may hold spaces, hence the last ")"): fields 3, 4, ...;
    # utime and stime are fields 14 and 15.
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_ticks(member) or 0 for member in process_tree(pid)) / CLOCK_TICKS


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all the machine's cores so far, from /proc/stat."""
    # cpu  user nice system idle iowait irq softirq steal ...
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in KiB, from /proc/PID/smaps_rollup; zeros once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    figures = {name.rstrip(":"): int(value) for name, value, *_ in map(str.split, lines)}
    return figures.get("Pss", 0), figures.get("Rss", 0)


class ProcessTreeSampler:
    """A worker and its pool children, sampled in a thread: peak PSS and RSS summed over them,
    and each process's CPU time as last seen (a child that exits keeps its last figure)."""

    def __init__(self, root_pid: int) -> None:
        self._root = root_pid
        self._lock = threading.Lock()
        self._ticks: dict[int, int] = {}
        self.peak_pss_kib = 0
        self.peak_rss_kib = 0
        self.most_processes = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> ProcessTreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopped.set()
        self._thread.join()

    def cpu_seconds(self) -> float:
        """CPU time of the whole tree so far (sampled now)."""
        self.sample()
        with self._lock:
            return sum(self._ticks.values()) / CLOCK_TICKS

    def sample(self) -> None:
        members = process_tree(self._root)
        pss = rss = 0
        ticks = {}
        for pid in members:
            process_pss, process_rss = memory_kib(pid)
            pss, rss = pss + process_pss, rss + process_rss
            if (value := cpu_ticks(pid)) is not None:
                ticks[pid] = value
        with self._lock:
            self._ticks.update(ticks)
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self.peak_rss_kib = max(self.peak_rss_kib, rss)
            self.most_processes = max(self.most_processes, len(members))

    def _run(self) -> None:
        while not self._stopped.wait(SAMPLE_INTERVAL_SECONDS):
            self.sample()


# -- the work ----------------------------------------------------------------------------------


async def queue_scans(broker_url: str, image: bytes, count: int) -> uuid.UUID:
    """`count` scans of a new user, `queued`, with their messages on `scan.image_upload`: the
    rows scan-api inserts and the messages it publishes (confirmed). Returns the user's id."""
    # The header check scan-api makes (its limits are not what is measured here).
    info = inspect_upload(image, max_bytes=len(image), max_pixels=10**9)
    user_id, now = uuid7(), utcnow()
    scan_ids = [uuid7() for _ in range(count)]
    digest = request_digest(image, None)
    scans = [
        queued_scan_row(
            scan_id,
            user_id,
            info,
            size_bytes=len(image),
            note=None,
            idempotency_key=None,
            digest=digest,
            now=now,
        )
        for scan_id in scan_ids
    ]
    engine = create_async_engine(DATABASE_URL)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(User).values(
                    id=user_id, nickname="storage pools bench", created_at=now, updated_at=now
                )
            )
            await connection.execute(insert(Scan), scans)
    finally:
        await engine.dispose()
    publisher = TaskPublisher(broker_url)
    await publisher.start()
    if not publisher.connected:
        raise RuntimeError(f"cannot publish to {broker_url}")
    in_flight = asyncio.Semaphore(16)  # several confirms outstanding, as concurrent uploads have

    async def publish(scan_id: uuid.UUID) -> None:
        async with in_flight:
            message = store_image_message(scan_id, info.media_type, image, SCAN_PRIORITY)
            await publisher.publish(message)

    try:
        await asyncio.gather(*(publish(scan_id) for scan_id in scan_ids))
    finally:
        await publisher.close()
    return user_id


def scan_counts(database: Engine, user_id: uuid.UUID) -> dict[ScanStatus, int]:
    with database.connect() as connection:
        rows = connection.execute(
            select(Scan.status, func.count()).where(Scan.user_id == user_id).group_by(Scan.status)
        )
        return dict(rows.all())


def wait_until_finished(database: Engine, user_id: uuid.UUID, count: int) -> None:
    """Until `count` scans are `stored` or `failed`, or none has finished for STALL_SECONDS."""
    finished, last_progress = 0, time.monotonic()
    while finished < count and time.monotonic() - last_progress < STALL_SECONDS:
        time.sleep(0.1)
        counts = scan_counts(database, user_id)
        now_finished = counts.get(ScanStatus.STORED, 0) + counts.get(ScanStatus.FAILED, 0)
        if now_finished > finished:
            finished, last_progress = now_finished, time.monotonic()


def stored_span(database: Engine, user_id: uuid.UUID) -> tuple[float, float]:
    """When the first and the last scan became `stored`, as Unix times (the worker sets
    `updated_at` as it moves a scan, and nothing moves them further here); at least one is."""
    with database.connect() as connection:
        first, last = connection.execute(
            select(func.min(Scan.updated_at), func.max(Scan.updated_at)).where(
                Scan.user_id == user_id, Scan.status == ScanStatus.STORED
            )
        ).one()
    return first.timestamp(), last.timestamp()


@dataclass(frozen=True)
class S3StandIn:
    moto_url: str
    moto_pid: int
    proxy_url: str
    proxy_pid: int

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.moto_pid) + tree_cpu_seconds(self.proxy_pid)

    def empty_bucket(self) -> None:
        """moto keeps objects in memory: start every run from nothing."""
        httpx.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        boto3.client(
            "s3",
            endpoint_url=self.moto_url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        ).create_bucket(Bucket=BUCKET)


def run_pool(
    setting: PoolSetting,
    latency_ms: float,
    *,
    round_number: int,
    images: int,
    image: bytes,
    broker_url: str,
    s3: S3StandIn,
    database: Engine,
    logs: Path,
) -> PoolRun:
    """One run: queue `images` scans, start the worker with this pool, wait for all of them."""
    s3.empty_bucket()
    user_id = asyncio.run(queue_scans(broker_url, image, images))
    try:
        return measure(
            setting, latency_ms, round_number, images, user_id, broker_url, s3, database, logs
        )
    finally:
        clean_up(broker_url, database, user_id)


def measure(
    setting: PoolSetting,
    latency_ms: float,
    round_number: int,
    images: int,
    user_id: uuid.UUID,
    broker_url: str,
    s3: S3StandIn,
    database: Engine,
    logs: Path,
) -> PoolRun:
    """Start the worker on the queued scans and follow it until they are all done."""
    name = f"{setting.pool}-{setting.concurrency}-{latency_ms:g}ms-{round_number}"
    env = base_env(broker_url, logs / name) | {
        "BUNRI_REDIS_URL": REDIS_URL,
        "BUNRI_S3_BUCKET": BUCKET,
        "BUNRI_S3_ENDPOINT_URL": s3.proxy_url,
        "BUNRI_S3_ACCESS_KEY_ID": "bench",
        "BUNRI_S3_SECRET_ACCESS_KEY": "bench",
        # Also sizes the worker's database pool, as it would in production at this concurrency.
        "BUNRI_STORAGE_WORKER_CONCURRENCY": str(setting.concurrency),
        "BUNRI_LOG_LEVEL": "INFO",  # production's; the " ready." line is INFO
    }
    env.pop("PSYCOPG_WAIT_FUNC", None)  # each launcher chooses (see the module's docstring)
    log = logs / f"{name}.log"
    with (
        process(setting.worker_command(), env, log) as worker,
        ProcessTreeSampler(worker.pid) as sampler,
    ):
        wait_for_log(log, " ready.", worker, 120)
        ready_at = time.time()
        # CPU is counted over the same window as images/s: from the first scan stored (so not
        # the worker's start, nor each pool thread's or child's first-use set-up) to the last.
        wait_until_finished(database, user_id, 1)
        worker_cpu_at_first = sampler.cpu_seconds()
        s3_cpu_at_first = s3.cpu_seconds()
        busy_at_first, total_at_first = machine_cpu_ticks()
        wait_until_finished(database, user_id, images)
        worker_cpu = sampler.cpu_seconds() - worker_cpu_at_first
        s3_cpu = s3.cpu_seconds() - s3_cpu_at_first
        busy_at_last, total_at_last = machine_cpu_ticks()
        stop_at_once(worker)
    counts = scan_counts(database, user_id)
    stored = counts.get(ScanStatus.STORED, 0)
    first, last = stored_span(database, user_id) if stored else (0.0, 0.0)
    machine_busy = (busy_at_last - busy_at_first) / max(total_at_last - total_at_first, 1)
    return PoolRun(
        pool=setting.pool,
        concurrency=setting.concurrency,
        s3_latency_ms=latency_ms,
        round_number=round_number,
        images=images,
        stored=stored,
        failed=counts.get(ScanStatus.FAILED, 0),
        first_to_last_stored_seconds=last - first,
        ready_to_last_stored_seconds=max(0.0, last - ready_at),
        worker_cpu_seconds=worker_cpu,
        peak_pss_mib=sampler.peak_pss_kib / 1024,
        peak_rss_mib=sampler.peak_rss_kib / 1024,
        worker_processes=sampler.most_processes,
        s3_cpu_seconds=s3_cpu,
        machine_busy_fraction=machine_busy,
    )


def stop_at_once(worker: subprocess.Popen[bytes]) -> None:
    """Celery's cold shutdown: the warm one takes 2-4 s that measure nothing. A message still
    unacknowledged (a run given up on) goes back to its queue, which `clean_up` purges."""
    os.killpg(worker.pid, signal.SIGQUIT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(15)  # else `bench.stack.process` ends it


def clean_up(broker_url: str, database: Engine, user_id: uuid.UUID) -> None:
    """What the run left: the analysis hand-offs (nothing consumes them), any message of a scan
    not stored, the run's event streams and its scans."""
    asyncio.run(purge(broker_url, AI_ANALYSIS.name))
    asyncio.run(purge(broker_url, IMAGE_UPLOAD.name))
    with database.begin() as connection:
        scan_ids = list(connection.scalars(select(Scan.id).where(Scan.user_id == user_id)))
        connection.execute(delete(User).where(User.id == user_id))  # its scans go with it
    events = redis.Redis.from_url(REDIS_URL)
    try:
        for start in range(0, len(scan_ids), 500):
            events.delete(*(stream_key(scan_id) for scan_id in scan_ids[start : start + 500]))
    finally:
        events.close()


@contextmanager
def s3_stand_ins(
    latencies_ms: Sequence[float], env: dict[str, str], logs: Path
) -> Iterator[dict[float, S3StandIn]]:
    """moto on loopback, and in front of it a proxy for each latency, answering that much later;
    by latency."""
    with ExitStack() as stack:
        moto_url = f"http://127.0.0.1:{free_port()}"
        moto_command = [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", moto_url.split(":")[-1]]
        moto = stack.enter_context(
            process(moto_command, env, logs / "moto.log", f"{moto_url}/moto-api/")
        )
        stand_ins = {}
        for latency_ms in latencies_ms:
            proxy_url = f"http://127.0.0.1:{free_port()}"
            proxy_command = [sys.executable, "-m", "bench.latency_proxy", moto_url]
            proxy_command += [proxy_url.split(":")[-1], str(latency_ms)]
            proxy_log = logs / f"proxy-{latency_ms:g}ms.log"
            proxy = stack.enter_context(
                process(proxy_command, env, proxy_log, f"{proxy_url}/moto-api/")
            )
            stand_ins[latency_ms] = S3StandIn(moto_url, moto.pid, proxy_url, proxy.pid)
        yield stand_ins


def run_matrix(
    pools: Sequence[PoolSetting],
    latencies_ms: Sequence[float],
    images: int = DEFAULT_IMAGES,
    image_bytes: int = IMAGE_BYTES,
    rounds: int = 1,
    logs: Path | None = None,
) -> list[PoolRun]:
    """Every pool at every S3 latency, one run after the other on this machine, the whole matrix
    `rounds` times (the machine's other load drifts: the median of a few rounds is steadier);
    prints a line per run as it ends. The processes' logs go to `logs` if given (else a temporary
    folder)."""
    image = photo_of_size(image_bytes)
    results: list[PoolRun] = []
    with ExitStack() as stack:
        database = create_engine(sync_url(DATABASE_URL))
        stack.callback(database.dispose)
        if logs is None:
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        logs.mkdir(parents=True, exist_ok=True)
        broker_url = stack.enter_context(bench_vhost(VHOST))
        env = base_env(broker_url, logs)
        migrate(env)
        stand_ins = stack.enter_context(s3_stand_ins(latencies_ms, env, logs))
        for round_number in range(1, rounds + 1):
            for latency_ms in latencies_ms:
                for setting in pools:
                    result = run_pool(
                        setting,
                        latency_ms,
                        round_number=round_number,
                        images=images,
                        image=image,
                        broker_url=broker_url,
                        s3=stand_ins[latency_ms],
                        database=database,
                        logs=logs,
                    )
                    print(result.line(), flush=True)
                    results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES, help="scans per run")
    parser.add_argument(
        "--pools",
        type=PoolSetting.parse,
        nargs="+",
        default=[PoolSetting.parse(text) for text in DEFAULT_POOLS],
        metavar="POOL:CONCURRENCY",
    )
    parser.add_argument(
        "--latencies",
        type=float,
        nargs="+",
        default=list(DEFAULT_LATENCIES_MS),
        metavar="MS",
        help="added to every S3 request",
    )
    parser.add_argument(
        "--image-kb", type=int, default=IMAGE_BYTES // 1024, help="about this size of JPEG"
    )
    parser.add_argument("--rounds", type=int, default=1, help="run the whole matrix this often")
    parser.add_argument("--logs", type=Path, help="keep the processes' logs in this folder")
    args = parser.parse_args()
    configure_logging(service="bench", level="WARNING", json=False)  # the publisher's chatter
    print(
        f"storage worker pools: {args.images} scans a run, {args.image_kb} KB JPEG, "
        f"{os.cpu_count()} cores, S3 = moto + {'/'.join(f'{ms:g}' for ms in args.latencies)} ms",
        flush=True,
    )
    run_matrix(
        args.pools, args.latencies, args.images, args.image_kb * 1024, args.rounds, args.logs
    )


if __name__ == "__main__":
    main()
