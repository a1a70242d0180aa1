"""The topology as kombu objects, for Celery's workers and for publishing without aio-pika
(needs kombu, which comes with Celery)."""

from __future__ import annotations

from kombu import Connection, Exchange, Queue

from bunri.messaging.topology import (
    DEAD_LETTER_ARGUMENTS,
    DEAD_LETTER_EXCHANGE,
    TASK_EXCHANGE,
    WORK_QUEUES,
)

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
