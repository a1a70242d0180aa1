"""The Celery app every worker builds, configured for at-least-once delivery without losing work:
late acks, a task whose worker died goes back to its queue, one message prefetched at a time,
JSON only, confirmed publishes, and queues declared exactly as the broker's definitions."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Connection, Exchange, Queue

from bunri.messaging.tasks import TASK_QUEUES
from bunri.messaging.topology import (
    DEAD_LETTER_ARGUMENTS,
    DEAD_LETTER_EXCHANGE,
    DEFAULT_PRIORITY,
    MAX_PRIORITY,
    TASK_EXCHANGE,
    WORK_QUEUES,
)
from bunri.settings import BrokerSettings

task_exchange = Exchange(TASK_EXCHANGE, type="direct", durable=True)
dead_letter_exchange = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


def kombu_queues() -> list[Queue]:
    return [
        Queue(
            queue.name,
            task_exchange,
            routing_key=queue.name,
            durable=True,
            queue_arguments=queue.arguments(),
        )
        for queue in WORK_QUEUES
    ]


def dead_letter_queues() -> list[Queue]:
    return [
        Queue(
            queue.dead_letter_queue,
            dead_letter_exchange,
            routing_key=queue.dead_letter_queue,
            durable=True,
            queue_arguments=DEAD_LETTER_ARGUMENTS,
        )
        for queue in WORK_QUEUES
    ]


def declare_topology(connection: Connection) -> None:
    """Declare every exchange, queue and binding (idempotent), dead-letter ones included, which
    Celery itself would not declare."""
    with connection.channel() as channel:
        for queue in [*kombu_queues(), *dead_letter_queues()]:
            queue(channel).declare()


def create_celery_app(name: str, settings: BrokerSettings, **overrides: Any) -> Celery:
    app = Celery(name, broker=settings.broker_url, set_as_current=True)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # py-amqp publishes without confirms by default: a message sent during a broker alarm
        # would vanish. With confirms, a publish returns only once the broker has it.
        broker_transport_options={"confirm_publish": True},
        broker_connection_retry_on_startup=True,
        broker_heartbeat=30,
        task_queues=kombu_queues(),
        task_routes={
            task: {"queue": queue.name, "routing_key": queue.name, "exchange": TASK_EXCHANGE}
            for task, queue in TASK_QUEUES.items()
        },
        task_create_missing_queues=False,
        task_default_priority=DEFAULT_PRIORITY,
        task_queue_max_priority=MAX_PRIORITY,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        **overrides,
    )
    return app
