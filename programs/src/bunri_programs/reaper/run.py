"""`bunri reaper`: consume every `dlq.*` queue, fail what each dead letter carried, and sweep
stalled scans now and then. Reconnects to the broker forever; a dead letter whose scan cannot be
written (the database away) waits in its queue. Its loop beats a heartbeat file (for `bunri worker
alive`), also while it waits for the broker."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from datetime import timedelta
from types import FrameType

import kombu
import redis
from kombu.message import Message

from bunri.heartbeat import Heartbeat
from bunri.ids import uuid7
from bunri.logging import configure_logging, get_logger
from bunri.messaging.kombu_topology import dead_letter_queues, declare_topology
from bunri.messaging.protocol import TaskCall
from bunri.messaging.tasks import ERASE_ACCOUNT
from bunri.messaging.topology import TASK_EXCHANGE
from bunri.metrics.messaging import DEAD_LETTERS
from bunri.metrics.server import serve_worker_metrics
from bunri.profiles import SyncProfileCache
from bunri.tracing import TRACEPARENT_HEADER, bound_span, start_span
from bunri.worker.durable import DATABASE_UNAVAILABLE
from bunri.worker.ledger import create_ledger
from bunri.worker.liveness import HEARTBEAT_MAX_AGE_SECONDS, heartbeat_age
from bunri_programs.reaper.service import DeadLetter, Reaper, read_dead_letter
from bunri_programs.reaper.settings import ReaperSettings

log = get_logger(__name__)


class ReaperProcess:
    def __init__(self, settings: ReaperSettings) -> None:
        self._settings = settings
        cache = redis.Redis.from_url(
            settings.caches_redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        self._reaper = Reaper(create_ledger(settings, pool_size=2), SyncProfileCache(cache))
        self._stopped = threading.Event()
        self._last_sweep = 0.0
        self._heartbeat = Heartbeat(settings.heartbeat_file, settings.heartbeat_interval_seconds)

    def stop(self, *_: object) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            connection = kombu.Connection(self._settings.broker_url, heartbeat=30)
            try:
                # Forever; the callback runs about once a second while it waits.
                connection.ensure_connection(interval_max=5, callback=self._heartbeat.beat)
                declare_topology(connection)
                self._consume(connection)
            except (*connection.connection_errors, *connection.channel_errors) as exc:
                log.warning("broker connection lost; reconnecting", error=repr(exc))
                self._stopped.wait(1)
            finally:
                connection.release()

    def _consume(self, connection: kombu.Connection) -> None:
        with connection.channel() as channel:
            consumer = kombu.Consumer(
                channel,
                dead_letter_queues(),
                on_message=self._on_message,
                prefetch_count=self._settings.reaper_prefetch,
            )
            with consumer:
                log.info("reaper consuming", queues=[queue.name for queue in consumer.queues])
                while not self._stopped.is_set():
                    self._heartbeat.beat()
                    # socket.timeout (a TimeoutError): nothing arrived this second.
                    with contextlib.suppress(TimeoutError):
                        connection.drain_events(timeout=1)
                    connection.heartbeat_check()
                    self._maybe_sweep()

    def _on_message(self, message: Message) -> None:
        headers = message.headers or {}
        dead = read_dead_letter(message.body, headers, message.content_type)
        # Its lines join the trace of the request that caused the task.
        with bound_span(start_span(headers.get(TRACEPARENT_HEADER)), task_id=dead.task_id):
            self._reap(message, dead)

    def _reap(self, message: Message, dead: DeadLetter) -> None:
        queue = str(message.delivery_info.get("routing_key") or "unknown")
        try:
            outcome = self._reaper.handle(dead)
        except Exception as exc:
            # The database away, or a bug: the dead letter waits in its queue either way, and
            # the reaper lives on to take the others.
            if isinstance(exc, DATABASE_UNAVAILABLE):
                log.warning("database unavailable; dead letter kept", error=type(exc).__name__)
            else:
                log.exception("dead letter not reaped; kept", task_id=dead.task_id)
            DEAD_LETTERS.labels(queue, dead.reason, "kept").inc()
            self._stopped.wait(1)
            message.requeue()
            return
        message.ack()
        DEAD_LETTERS.labels(queue, dead.reason, outcome.split(":", 1)[0]).inc()

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < self._settings.reaper_sweep_interval_seconds:
            return
        self._last_sweep = time.monotonic()
        try:
            self._reaper.sweep(timedelta(minutes=self._settings.scan_stalled_after_minutes))
            self._reaper.sweep_photos(timedelta(minutes=self._settings.photo_stalled_after_minutes))
            overdue = self._reaper.overdue_erasures(
                timedelta(minutes=self._settings.erasure_overdue_minutes)
            )
        except DATABASE_UNAVAILABLE as exc:
            log.warning("sweep skipped: database unavailable", error=type(exc).__name__)
            return
        if overdue:
            self._resend_erasures(overdue)

    def _resend_erasures(self, users: list[uuid.UUID]) -> None:
        with kombu.Connection(self._settings.broker_url) as connection:
            producer = connection.Producer()
            for user_id in users:
                message = TaskCall(ERASE_ACCOUNT, user_id, {"erasure_id": str(uuid7())}).message()
                producer.publish(
                    message.body,
                    exchange=TASK_EXCHANGE,
                    routing_key=message.routing_key,
                    headers=message.headers,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    priority=message.priority,
                    delivery_mode=2,
                    retry=True,
                )
        log.warning("overdue erasures sent again", count=len(users))


def run_reaper() -> None:
    settings = ReaperSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    process = ReaperProcess(settings)
    if settings.metrics_port is not None:
        serve_worker_metrics(
            settings.metrics_port,
            heartbeat_age=lambda: heartbeat_age(settings.heartbeat_file),
            max_heartbeat_age=HEARTBEAT_MAX_AGE_SECONDS,
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        process.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    process.run()
