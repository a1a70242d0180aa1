"""Confirmed publishing from async services (aio-pika), with the topology declared on connect.

Every publish waits for the broker's confirm: a returned 202 means the message is on disk in the
queue (or, if the broker could not be reached, in the outbox, committed with the scan).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any, Protocol

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.connection import make_url

from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable, QueueFull
from bunri.messaging.protocol import TaskMessage
from bunri.messaging.topology import (
    DEAD_LETTER_ARGUMENTS,
    DEAD_LETTER_EXCHANGE,
    EVENTS_EXCHANGE,
    EXCHANGE_TYPES,
    TASK_EXCHANGE,
    WORK_QUEUES,
)
from bunri.messaging.transport import broker_transport_options
from bunri.metrics.messaging import (
    CONFIRM_TIMEOUT,
    CONNECTION_LOST,
    NOT_CONNECTED,
    PUBLISH_FAILURES,
    QUEUE_FULL,
    UNROUTABLE,
    queue_metrics,
)
from bunri.settings import BrokerSettings

log = get_logger(__name__)

_BROKER_GONE = (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, OSError)


async def declare_topology(channel: AbstractChannel) -> None:
    """Declare every exchange, queue and binding; idempotent when the broker already has them."""
    exchanges = {
        name: await channel.declare_exchange(name, aio_pika.ExchangeType(kind), durable=True)
        for name, kind in EXCHANGE_TYPES.items()
    }
    dead = exchanges[DEAD_LETTER_EXCHANGE]
    for queue in WORK_QUEUES:
        work = await channel.declare_queue(queue.name, durable=True, arguments=queue.arguments())
        for exchange, routing_key in queue.bindings:
            await work.bind(exchanges[exchange], routing_key=routing_key)
        letters = await channel.declare_queue(
            queue.dead_letter_queue, durable=True, arguments=DEAD_LETTER_ARGUMENTS
        )
        await letters.bind(dead, routing_key=queue.dead_letter_queue)


class Publisher(Protocol):
    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, message: TaskMessage) -> None:
        """Return once the broker has the message; `QueueFull` or `BrokerUnavailable` else."""
        ...


class TaskPublisher:
    """One robust connection and one confirming channel per process.

    The service starts even while the broker is down: `publish` then fails fast with
    `BrokerUnavailable` (the caller falls back to the outbox) and a background task keeps trying
    to connect.
    """

    def __init__(
        self,
        url: str,
        *,
        confirm_timeout: float = 5.0,
        reconnect_interval: float = 2.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._confirm_timeout = confirm_timeout
        self._reconnect_interval = reconnect_interval
        self._connect_timeout = connect_timeout
        self._connection: AbstractRobustConnection | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._connecting: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def connected(self) -> bool:
        return (
            bool(self._exchanges)
            and self._connection is not None
            and (not self._connection.is_closed)
        )

    async def start(self) -> None:
        if not await self._try_connect():
            self._connecting = asyncio.create_task(self._keep_connecting())

    async def close(self) -> None:
        self._closing = True
        if self._connecting is not None:
            self._connecting.cancel()
            # gather: the retries' own cancellation is expected; one of close() itself is not.
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._connection is not None:
            # Bounded: a broker that no longer answers would otherwise hold up the shutdown.
            await self._close_quietly(self._connection)

    async def publish(self, message: TaskMessage) -> None:
        queue = message.routing_key
        exchange = self._exchanges.get(message.exchange)
        if exchange is None or not self.connected:
            PUBLISH_FAILURES.labels(queue, NOT_CONNECTED).inc()
            raise BrokerUnavailable("not connected to the broker")
        started = time.perf_counter()
        try:
            # Its own timeout rather than wait_for's: no task of its own, so the frames reach
            # the socket a loop iteration sooner.
            confirmation = await exchange.publish(
                _to_amqp(message), routing_key=queue, mandatory=True, timeout=self._confirm_timeout
            )
        except aiormq.exceptions.DeliveryError as exc:
            # A nack: the queue is at its length or byte limit (x-overflow reject-publish).
            PUBLISH_FAILURES.labels(queue, QUEUE_FULL).inc()
            raise QueueFull() from exc
        except TimeoutError as exc:
            PUBLISH_FAILURES.labels(queue, CONFIRM_TIMEOUT).inc()
            raise BrokerUnavailable(repr(exc)) from exc
        except (*_BROKER_GONE, aiormq.exceptions.ChannelInvalidStateError) as exc:
            # A closed channel while the robust connection reconnects is the same outage.
            PUBLISH_FAILURES.labels(queue, CONNECTION_LOST).inc()
            raise BrokerUnavailable(repr(exc)) from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            # Returned as unroutable: the queue is missing, which a restart will redeclare.
            PUBLISH_FAILURES.labels(queue, UNROUTABLE).inc()
            raise BrokerUnavailable(f"message not routed: {confirmation!r}")
        confirmed = queue_metrics(queue)
        confirmed.confirm_seconds.observe(time.perf_counter() - started)
        confirmed.published.inc()

    async def _try_connect(self) -> bool:
        # Made here rather than by connect_robust, so that a try that fails is closed whatever
        # stopped it (refused, timed out, a topology the broker rejects, cancelled): a robust
        # connection left open goes on connecting on its own, one more with every retry.
        connection = aio_pika.RobustConnection(make_url(self._url))
        try:
            # Bounded, the whole of it: connect() waits for its first attempt's outcome (an error
            # that aio-pika does not take for a connection error leaves it retrying unseen), and a
            # declaration whose answer a dropped link lost would wait for ever.
            async with asyncio.timeout(self._connect_timeout * 3):
                await connection.connect(timeout=self._connect_timeout)
                channel = await connection.channel(publisher_confirms=True)
                await declare_topology(channel)
                self._exchanges = {
                    name: await channel.get_exchange(name)
                    for name in (TASK_EXCHANGE, EVENTS_EXCHANGE)
                }
        except _BROKER_GONE as exc:
            log.warning("broker unavailable", error=repr(exc))
            await self._close_quietly(connection)
            return False
        except BaseException:
            await self._close_quietly(connection)
            raise
        self._connection = connection
        log.info("broker connected")
        return True

    async def _close_quietly(self, connection: AbstractRobustConnection) -> None:
        # Shielded: aio-pika drops its transport before closing it, so a close cancelled halfway
        # (close() cancelling a retry that was closing its failed try) leaves the socket open
        # with nothing left to close it.
        closing = asyncio.ensure_future(self._close_bounded(connection))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await closing
            raise

    async def _close_bounded(self, connection: AbstractRobustConnection) -> None:
        with contextlib.suppress(*_BROKER_GONE, RuntimeError):
            async with asyncio.timeout(self._connect_timeout):
                await connection.close()

    async def _keep_connecting(self) -> None:
        # The flag as well as the cancellation: on Python 3.11 a wait_for (aio-pika connects
        # with one) that finishes just as its task is cancelled swallows the cancellation, and
        # this loop went on for ever, close() waiting on it.
        while not self._closing:
            if await self._try_connect():
                return
            await asyncio.sleep(self._reconnect_interval)


def _to_amqp(message: TaskMessage) -> aio_pika.Message:
    headers: dict[str, Any] = message.headers
    return aio_pika.Message(
        message.body,
        headers=headers,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=message.priority,
        correlation_id=message.task_id,
        message_id=message.task_id,
    )


class KombuTaskPublisher:
    """The same messages through kombu, for brokers aio-pika cannot speak: standalone mode's
    filesystem transport when no RabbitMQ runs. Blocking calls go to a thread."""

    def __init__(self, url: str, transport_options: dict[str, Any]) -> None:
        from kombu import Connection

        self._connection = Connection(url, transport_options=transport_options)
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return True

    async def start(self) -> None:
        from bunri.messaging.kombu_topology import declare_topology as declare_with_kombu

        await asyncio.to_thread(declare_with_kombu, self._connection)

    async def close(self) -> None:
        await asyncio.to_thread(self._connection.release)

    async def publish(self, message: TaskMessage) -> None:
        try:
            await asyncio.to_thread(self._publish_blocking, message)
        except (OSError, ConnectionError) as exc:
            PUBLISH_FAILURES.labels(message.routing_key, CONNECTION_LOST).inc()
            raise BrokerUnavailable(repr(exc)) from exc
        queue_metrics(message.routing_key).published.inc()

    def _publish_blocking(self, message: TaskMessage) -> None:
        from bunri.messaging.kombu_topology import exchanges

        with self._lock, self._connection.Producer() as producer:
            producer.publish(
                message.body,
                exchange=exchanges[message.exchange],
                routing_key=message.routing_key,
                headers=message.headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                priority=message.priority,
                correlation_id=message.task_id,
                delivery_mode=2,
            )


def create_publisher(settings: BrokerSettings, *, confirm_timeout: float = 5.0) -> Publisher:
    if settings.uses_amqp:
        return TaskPublisher(settings.broker_url, confirm_timeout=confirm_timeout)
    return KombuTaskPublisher(settings.broker_url, broker_transport_options(settings))
