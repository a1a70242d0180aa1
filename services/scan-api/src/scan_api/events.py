"""Server-sent progress events for one scan, from any replica, resumable with Last-Event-ID.

History comes from the scan's Redis stream (entry ids are the events' sequence numbers); live
events come through one pub/sub subscription per process, fanned out to its listening clients.
Whatever Redis lost (a stream expired after a day, a worker killed between its commit and its
event), the database still knows the current state, and the stream ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bunri.db.models import Scan, ScanStatus
from bunri.logging import get_logger
from bunri.scans.events import CHANNEL, ScanEvent, stream_key

log = get_logger(__name__)

LISTENER_BUFFER = 32
RETRY_MILLISECONDS = 3000


class ScanEventHub:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._listeners: defaultdict[str, set[asyncio.Queue[ScanEvent]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._pump_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_subscribed(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._subscribed.wait(), seconds)
        except TimeoutError:
            return False
        return True

    @contextlib.contextmanager
    def listen(self, scan_id: str) -> Iterator[asyncio.Queue[ScanEvent]]:
        queue: asyncio.Queue[ScanEvent] = asyncio.Queue(LISTENER_BUFFER)
        self._listeners[scan_id].add(queue)
        try:
            yield queue
        finally:
            self._listeners[scan_id].discard(queue)
            if not self._listeners[scan_id]:
                del self._listeners[scan_id]

    async def history(self, scan_id: str, after: int, up_to: int | None = None) -> list[ScanEvent]:
        entries: Any = await self._redis.xrange(
            stream_key(scan_id), min=f"({after}-0", max=f"{up_to}-0" if up_to else "+"
        )
        return [ScanEvent.from_json(fields[b"e"]) for _, fields in entries]

    async def _pump_forever(self) -> None:
        while True:
            try:
                await self._pump()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                log.warning("scan event subscription lost; resubscribing", error=repr(exc))
                await asyncio.sleep(1)

    async def _pump(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            self._subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                event = ScanEvent.from_json(message["data"])
                for queue in self._listeners.get(event.scan_id, ()):
                    with contextlib.suppress(asyncio.QueueFull):
                        # A client this far behind reads the gap from the stream's history.
                        queue.put_nowait(event)


def format_event(event: ScanEvent) -> str:
    return (
        f"id: {event.seq}\nevent: {event.event}\n"
        f"data: {json.dumps(event.data, separators=(',', ':'), ensure_ascii=False)}\n\n"
    )


def queued_event(scan: Scan) -> ScanEvent:
    return ScanEvent(
        str(scan.id), 1, ScanStatus.QUEUED.value, {"status": ScanStatus.QUEUED.value, "progress": 0}
    )


async def scan_event_stream(
    scan: Scan,
    hub: ScanEventHub,
    reload: Callable[[], Awaitable[Scan]],
    *,
    last_event_id: int,
    keepalive_seconds: float,
) -> AsyncIterator[str]:
    """Every transition after `last_event_id`, each once and in order, then live ones, until the
    terminal event; a comment every `keepalive_seconds` so proxies keep the connection open."""
    scan_id = str(scan.id)
    # Events are published after their commit, so none exists beyond the version just read: a
    # larger id (a client's mistake) must not make the stream skip the transitions still to come.
    sent = min(last_event_id, scan.version)
    yield f"retry: {RETRY_MILLISECONDS}\n\n"
    if scan.status.terminal and sent >= scan.version:
        return  # the client already has the terminal event: nothing will ever follow it
    with hub.listen(scan_id) as live:
        pending = await hub.history(scan_id, after=sent)
        # The accept path records no event (to stay fast): `queued` is always version 1.
        if sent < 1 and not any(event.seq == 1 for event in pending):
            pending.insert(0, queued_event(scan))
        if scan.status.terminal and scan.version > max((e.seq for e in pending), default=sent):
            pending.append(ScanEvent.of(scan))  # finished, and its events are gone from Redis
        while True:
            for event in pending:
                if event.seq <= sent:
                    continue
                if event.seq > sent + 1:  # a gap: live delivery overtook history
                    for missed in await hub.history(scan_id, after=sent, up_to=event.seq - 1):
                        yield format_event(missed)
                        sent = missed.seq
                yield format_event(event)
                sent = event.seq
                if ScanStatus(event.event).terminal:
                    return
            try:
                pending = [await asyncio.wait_for(live.get(), keepalive_seconds)]
            except TimeoutError:
                yield ": keepalive\n\n"
                pending = []
                current = await reload()
                if current.status.terminal and current.version > sent:
                    # Its event never reached Redis (or expired): the database has the answer.
                    pending = [ScanEvent.of(current)]
