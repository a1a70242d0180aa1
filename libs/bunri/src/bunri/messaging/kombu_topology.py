"""The topology as kombu objects, for Celery's workers and for publishing without aio-pika
(needs kombu, which comes with Celery)."""

from __future__ import annotations

from kombu import Connection, Exchange, Queue, binding

from bunri.messaging.topology import (
    DEAD_LETTER_ARGUMENTS,
    DEAD_LETTER_EXCHANGE,
    EXCHANGE_TYPES,
    TASK_EXCHANGE,
    WORK_QUEUES,
    WorkQueue,
)

exchanges = {name: Exchange(name, type=kind, durable=True) for name, kind in EXCHANGE_TYPES.items()}
task_exchange = exchanges[TASK_EXCHANGE]
dead_letter_exchange = exchanges[DEAD_LETTER_EXCHANGE]


def kombu_queues() -> list[Queue]:
    return [_queue(queue) for queue in WORK_QUEUES]


def _queue(queue: WorkQueue) -> Queue:
    if queue.routing_keys:
        # An events queue: bound once per event type it takes, and by name for retries.
        bindings = [
            binding(exchanges[exchange], routing_key=key) for exchange, key in queue.bindings
        ]
        return Queue(queue.name, bindings=bindings, durable=True, queue_arguments=queue.arguments())
    return Queue(
        queue.name,
        exchanges[queue.exchange],
        routing_key=queue.name,
        durable=True,
        queue_arguments=queue.arguments(),
    )


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
