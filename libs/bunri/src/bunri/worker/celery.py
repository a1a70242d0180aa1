"""The Celery app every worker builds, configured for at-least-once delivery without losing work:
late acks, a task whose worker died goes back to its queue, one message prefetched at a time,
MessagePack (JSON still read), confirmed publishes, and queues declared exactly as the broker's
definitions."""

from __future__ import annotations

from typing import Any

from celery import Celery

from bunri.journal import Journal
from bunri.logging import configure_logging
from bunri.messaging.kombu_topology import declare_topology, kombu_queues
from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import DEFAULT_PRIORITY, MAX_PRIORITY, TASK_EXCHANGE
from bunri.messaging.transport import broker_transport_options
from bunri.worker.liveness import heartbeat_step
from bunri.worker.observability import observe_worker
from bunri.worker.settings import WorkerSettings
from bunri.worker.upkeep import report_recovery

__all__ = ["create_celery_app", "declare_topology", "open_journal", "prepare_worker"]


def create_celery_app(name: str, settings: WorkerSettings, **overrides: Any) -> Celery:
    app = Celery(name, broker=settings.broker_url, set_as_current=True)
    configuration: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task that escapes with an exception goes to its dead-letter queue (the reaper fails
        # its scan at once) instead of being acknowledged into silence; one killed by its hard
        # time limit comes back, and the journal counts it as a crash.
        "task_acks_on_failure_or_timeout": False,
        "worker_prefetch_multiplier": 1,
        # As scan-api publishes (bunri.messaging.protocol): a photo travels as bytes. JSON is
        # still read: outbox rows may hold JSON messages, accepted until none remain.
        "task_serializer": "msgpack",
        "accept_content": ["msgpack", "json"],
        "task_ignore_result": True,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "broker_heartbeat": 30,
        "task_queues": kombu_queues(),
        "task_routes": {
            task: {"queue": queue.name, "routing_key": queue.name, "exchange": TASK_EXCHANGE}
            for task, queue in TASK_QUEUES.items()
        },
        "task_create_missing_queues": False,
        "task_default_priority": DEFAULT_PRIORITY,
        "task_queue_max_priority": MAX_PRIORITY,
        "worker_hijack_root_logger": False,
        # No Celery monitoring events by default: progress goes through Redis
        # (bunri.scans.events), and under eventlet with confirmed publishing the event
        # dispatcher can wait forever for an ack another green thread read, holding its lock and
        # freezing the consumer. BUNRI_WORKER_TASK_EVENTS turns task events on for Flower
        # (worker heartbeats stay off: see bunri.worker.launch).
        "worker_send_task_events": settings.worker_task_events,
        "task_send_sent_event": settings.worker_task_events,
        # A task running when the broker connection drops finishes its work rather than being
        # killed mid-I/O (that corrupts pooled connections, or leaves a pool child's task looking
        # like a crash). Its message comes back; the journal makes the copy wait for the running
        # one, then acknowledges it as done.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
    }
    app.conf.update(configuration | overrides)
    app.steps["consumer"].add(
        heartbeat_step(settings.heartbeat_file, settings.heartbeat_interval_seconds)
    )
    observe_worker(app, settings)
    return app


def open_journal(settings: WorkerSettings) -> Journal:
    """The node's journal (opened lazily, in whichever process first uses it)."""
    return Journal(
        settings.journal_file,
        max_crashes=settings.journal_max_crashes,
        synchronous=settings.journal_synchronous,
    )


def prepare_worker(app: Celery, settings: WorkerSettings, journal: Journal) -> None:
    """At worker start (Celery's `worker_init`): JSON logging, the queues as the broker's
    definitions have them, declared before the first task is consumed, and a report of what the
    journal holds from the last run."""
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    with app.connection_for_write() as connection:
        declare_topology(connection)
    report_recovery(journal)
