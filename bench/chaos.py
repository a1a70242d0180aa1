"""Chaos: every accepted scan finishes exactly once, while its workers die and its broker and
database go away.

The whole pipeline runs as real processes on loopback (auth-api, scan-api, the storage, AI and
character workers, the reaper where there is one) against a private RabbitMQ node, a private
PostgreSQL cluster, Redis (a database of this run's own) and an S3 server whose bucket keeps every
version of every object. Scans are uploaded at a steady rate, like the mobile app would (retrying
with the same Idempotency-Key until accepted), while the workers are SIGKILLed at random moments
and restarted like systemd would, RabbitMQ is restarted once and PostgreSQL is stopped for 30 s
once. Once the last upload is accepted and both are back, the chaos stops and the run waits for
every scan to finish, then for every completed scan's points (its `scan.completed` event, relayed
from scan-api's outbox to the character worker).

It then counts, from the database, the event streams and the bucket: scans completed, failed (by
reason), stuck, results written twice, objects written twice and objects no scan references; and
points: completed scans without an award or with more than one, awards for scans that did not
complete, characters whose points are not the sum of their awards. The run passes when every
accepted scan finished exactly once, every completed scan was awarded exactly once, and the only
failures are the ones it induced (`--poison K`: K uploads that crash the storage worker every
time, which must end failed as `poison`). One summary line comes last on stdout; the exit status
says pass or fail.

    .venv/bin/python -m bench.chaos [--scans 1000] [--rate 8] [--poison K] [--quick]

The default run (1,000 scans at 8/s) takes about three minutes on this 2-core VM, `--quick`
(100 scans at 5/s) about two; a run that leaves scans stuck waits `--drain-timeout` longer.
Logs stay in the run directory it prints first.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import httpx
import redis
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import NullPool

from bench.chaos_audit import (
    Audit,
    audit,
    completed_without_award,
    findings,
    problems,
    stuck_examples,
)
from bench.chaos_processes import Disruptions, WorkerKiller
from bench.chaos_services import PrivateRabbit
from bench.chaos_stack import BUCKET, REDIS_URL, Stack, start_stack
from bench.chaos_submit import Submissions, Submitter, load_photos
from bench.stack import signed_in_headers
from bunri.db.models import OutboxMessage, Scan, ScanStatus
from bunri.db.sync import sync_url
from bunri.messaging.tasks import HANDLE_EVENT
from bunri.messaging.topology import CHARACTER_EVENTS

log = logging.getLogger("chaos")

PROGRESS_EVERY_SECONDS = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench.chaos",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--scans", type=int, default=1000, help="uploads to submit")
    parser.add_argument("--rate", type=float, default=8.0, help="uploads a second")
    parser.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=[4.0, 12.0],
        metavar=("MIN", "MAX"),
        help="seconds between worker kills, drawn uniformly",
    )
    parser.add_argument("--poison", type=int, default=0, help="uploads carrying the crash marker")
    parser.add_argument("--outage", type=float, default=30.0, help="PostgreSQL outage, seconds")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=300.0,
        help="give up waiting for the last scans after this long without progress",
    )
    parser.add_argument(
        "--award-timeout",
        type=float,
        default=180.0,
        help="give up waiting for the last scans' points after this long without progress",
    )
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable chaos schedule")
    parser.add_argument("--quick", action="store_true", help="a short try: 100 scans at 5/s")
    args = parser.parse_args(argv)
    if args.quick:
        args.scans, args.rate = 100, 5.0
    if args.scans < 1 or args.rate <= 0:
        parser.error("--scans and --rate must be positive")
    if not 0 <= args.poison <= args.scans:
        parser.error("--poison must be between 0 and --scans")
    if not 0 < args.kill_every[0] <= args.kill_every[1]:
        parser.error("--kill-every needs 0 < MIN <= MAX")
    return args


def configure_logging(run_dir: Path) -> None:
    log.setLevel(logging.INFO)
    log.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    for handler in (logging.FileHandler(run_dir / "chaos.log"), logging.StreamHandler(sys.stderr)):
        handler.setFormatter(formatter)
        log.addHandler(handler)


async def submit(args: argparse.Namespace, scan_url: str, headers: dict[str, str]) -> Submissions:
    poisoned = set(random.Random(args.seed).sample(range(args.scans), args.poison))
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=scan_url, timeout=30, limits=limits) as client:
        submitter = Submitter(client, "/api/v1/scans", headers, load_photos())
        reporter = asyncio.create_task(report_submissions(submitter.result, args.scans))
        try:
            return await submitter.run(args.scans, args.rate, poisoned)
        finally:
            reporter.cancel()


async def report_submissions(result: Submissions, total: int) -> None:
    while True:
        await asyncio.sleep(PROGRESS_EVERY_SECONDS)
        log.info(
            "submitting: %d/%d accepted, %d retries", len(result.accepted), total, result.retries
        )


def unfinished(engine: Engine, ids: list[str]) -> int:
    terminal = Scan.status.in_([ScanStatus.COMPLETED, ScanStatus.FAILED])
    query = select(func.count()).where(Scan.id.in_(ids), terminal)
    with engine.connect() as connection:
        return len(ids) - int(connection.execute(query).scalar_one())


def drain(engine: Engine, ids: list[str], timeout: float) -> None:
    """Wait until every scan is terminal, giving up after `timeout` seconds without progress."""
    remaining = unfinished(engine, ids)
    last_progress = last_report = time.monotonic()
    while remaining:
        time.sleep(1)
        now = time.monotonic()
        left = unfinished(engine, ids)
        if left < remaining:
            last_progress = now
        remaining = left
        if now - last_report >= PROGRESS_EVERY_SECONDS:
            log.info("draining: %d scans not finished", remaining)
            last_report = now
        if now - last_progress > timeout:
            log.info("draining: no progress for %.0f s; giving up", timeout)
            return


def await_awards(engine: Engine, rabbit: PrivateRabbit, timeout: float) -> str:
    """Wait until every completed scan has its award, giving up after `timeout` seconds without
    progress; then say where the missing ones' events are ("" when none is missing)."""
    remaining = completed_without_award(engine)
    last_progress = last_report = time.monotonic()
    while remaining:
        time.sleep(1)
        now = time.monotonic()
        left = completed_without_award(engine)
        if left < remaining:
            last_progress = now
        remaining = left
        if now - last_report >= PROGRESS_EVERY_SECONDS:
            log.info("awarding: %d completed scans without points yet", remaining)
            last_report = now
        if now - last_progress > timeout:
            where = events_in_flight(engine, rabbit)
            log.info("awarding: no progress for %.0f s; giving up (%s)", timeout, where)
            return f"none came for {timeout:.0f} s; events {where}"
    return ""


def events_in_flight(engine: Engine, rabbit: PrivateRabbit) -> str:
    """Domain events not yet relayed from the outbox, and waiting in the character queues."""
    query = select(func.count()).where(OutboxMessage.task_name == HANDLE_EVENT)
    with engine.connect() as connection:
        outbox = int(connection.execute(query).scalar_one())
    try:
        listed = rabbit.ctl("list_queues", "--quiet", "--no-table-headers", "name", "messages")
        lines = listed.stdout.decode().splitlines()
    except subprocess.TimeoutExpired:
        lines = []  # the node does not answer: the depths are unknown
    depths = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
    queues = (CHARACTER_EVENTS.name, CHARACTER_EVENTS.dead_letter_queue)
    return f"in the outbox: {outbox}, " + ", ".join(f"in {q}: {depths.get(q, '?')}" for q in queues)


def summary_line(
    result: Audit,
    submissions: Submissions,
    killer: WorkerKiller,
    disruptions: Disruptions,
    wall: float,
) -> str:
    reasons = ",".join(f"{code}:{count}" for code, count in sorted(result.failed.items()))
    failed = f"{result.failed.total()}({reasons})" if reasons else "0"
    kills = f"storage:{killer.kills['storage']}," + ",".join(
        f"{name}:{killer.kills[f'{name}-child'] + killer.kills[f'{name}-group']}"
        f"(child:{killer.kills[f'{name}-child']},group:{killer.kills[f'{name}-group']})"
        for name in ("ai", "character")
    )
    awards = result.awards
    fields = [
        f"submitted={result.submitted}",
        f"completed={result.completed}",
        f"failed={failed}",
        f"stuck={len(result.stuck)}",
        f"duplicated_results={len(result.duplicated_results)}",
        f"duplicated_s3_objects={len(result.duplicated_s3_objects)}",
        f"orphaned_s3_objects={len(result.orphaned_s3_objects)}",
        f"awards={awards.awards}",
        f"scans_without_award={len(awards.without_award)}",
        f"scans_with_duplicate_awards={len(awards.duplicated)}",
        f"awards_for_unfinished_scans={len(awards.for_unfinished)}",
        # Only when there were any, like unaccepted= below.
        *([f"awards_to_wrong_user={len(awards.wrong_user)}"] if awards.wrong_user else []),
        f"points={awards.points}",
        f"points_mismatched_users={len(awards.points_mismatched)}",
        f"kills={kills}",
        f"rabbitmq_restarts={disruptions.rabbitmq_restarts}",
        f"postgres_outage_s={disruptions.postgres_outage_seconds:.0f}",
        f"wall={wall:.1f}s",
    ]
    if unaccepted(submissions):
        # Only when there were any: the line keeps the format otherwise.
        fields.insert(1, f"unaccepted={unaccepted(submissions)}")
    return "chaos: " + " ".join(fields)


def run_chaos(
    args: argparse.Namespace, stack: Stack, headers: dict[str, str], run_dir: Path
) -> int:
    submissions, killer, disruptions = submit_under_chaos(args, stack, headers)
    result, wall = drain_and_audit(args, stack, submissions)
    crashes = {worker.name: worker.crashes for worker in stack.workers}
    print_details(result, submissions, crashes, run_dir)
    found = problems(result, unaccepted(submissions), disruptions.errors)
    for problem in found:
        print(f"chaos: FAIL: {problem}")
    print(summary_line(result, submissions, killer, disruptions, wall), flush=True)
    return 1 if found else 0


def submit_under_chaos(
    args: argparse.Namespace, stack: Stack, headers: dict[str, str]
) -> tuple[Submissions, WorkerKiller, Disruptions]:
    rng = random.Random(args.seed)
    low, high = args.kill_every
    killer = WorkerKiller(stack.storage, stack.ai, stack.character, (low, high), rng)
    span = args.scans / args.rate
    disruptions = Disruptions(stack.infra.rabbit, stack.infra.postgres, span, args.outage, rng)
    killer.start()
    disruptions.start()
    try:
        submissions = asyncio.run(submit(args, stack.scan_url, headers))
        # A short run's submissions can end before the broker restart and the database outage.
        disruptions.wait()
    except BaseException:
        disruptions.abort()
        raise
    finally:
        # The last phase is calm, so that what the chaos left behind can finish.
        killer.stop()
        log.info("chaos over; draining (worker kills: %s)", dict(killer.kills))
    return submissions, killer, disruptions


def drain_and_audit(
    args: argparse.Namespace, stack: Stack, submissions: Submissions
) -> tuple[Audit, float]:
    """The audit, and the wall time from the first upload to the end of the drain (the last
    scan finished and awarded)."""
    engine = create_engine(sync_url(stack.infra.postgres.url), poolclass=NullPool)
    try:
        drain(engine, list(submissions.accepted), args.drain_timeout)
        wait_note = await_awards(engine, stack.infra.rabbit, args.award_timeout)
        wall = time.monotonic() - submissions.first_at
        redis_client = redis.Redis.from_url(REDIS_URL)
        result = audit(engine, redis_client, stack.infra.s3, BUCKET, submissions.accepted)
        result.awards.wait_note = wait_note
    finally:
        engine.dispose()
    return result, wall


def unaccepted(submissions: Submissions) -> int:
    return submissions.unaccepted + len(submissions.rejected)


def print_details(
    result: Audit, submissions: Submissions, crashes: dict[str, int], run_dir: Path
) -> None:
    found = findings(result)
    if found:
        # The database and the bucket go with the run: what failed a check stays, to grep for.
        (run_dir / "findings.txt").write_text(found)
        print(f"chaos: every scan and object behind a failed check: {run_dir / 'findings.txt'}")
    for line in stuck_examples(result):
        print(f"chaos: stuck {line}")
    for rejection in submissions.rejected[:5]:
        print(f"chaos: upload refused: {rejection}")
    print(
        f"chaos: {submissions.retries} upload retries; worker deaths no kill caused: {crashes};"
        f" finished scans whose stream lacks the final event: {result.missing_terminal_events}"
    )


def make_run_dir() -> Path:
    run_dir = Path(tempfile.mkdtemp(prefix="bunri-chaos-"))
    # The postgres user runs the private cluster in here: it must be able to walk in.
    run_dir.chmod(0o755)
    (run_dir / "data").mkdir()
    return run_dir


def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same clean-up as Ctrl-C


def run(args: argparse.Namespace) -> int:
    run_dir = make_run_dir()
    configure_logging(run_dir)
    print(f"chaos: run dir {run_dir}", flush=True)
    signal.signal(signal.SIGTERM, on_sigterm)
    with ExitStack() as stack:
        # Last out: the data (database, broker, model); the logs stay.
        stack.callback(shutil.rmtree, run_dir / "data", ignore_errors=True)
        services = start_stack(stack, run_dir, args.poison)
        headers = signed_in_headers(services.auth_url)
        log.info("stack up; %d scans at %g/s, %d poisoned", args.scans, args.rate, args.poison)
        return run_chaos(args, services, headers, run_dir)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        code = run(args)
    except KeyboardInterrupt:
        print("chaos: interrupted; everything it started is stopped", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
