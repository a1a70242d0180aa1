"""`bunri relay`: the outbox relay as a process of its own.

scan-api and chat-api each run a relay beside their publisher (see `publishing`); this one keeps
the outbox draining while no API replica is up, e.g. during a deploy. Rows are locked with SKIP
LOCKED, so it runs safely beside them and beside other copies of itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from bunri.db.engine import create_engine, create_sessionmaker
from bunri.heartbeat import Heartbeat, HeartbeatSettings
from bunri.logging import configure_logging, get_logger
from bunri.messaging.outbox import run_relay
from bunri.messaging.publisher import create_publisher
from bunri.settings import BrokerSettings

log = get_logger(__name__)


class RelaySettings(HeartbeatSettings, BrokerSettings):
    service_name: str = "outbox-relay"


def run_relay_process() -> None:
    """Relay until SIGTERM or SIGINT."""
    settings = RelaySettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    asyncio.run(_relay_until_stopped(settings))


async def _relay_until_stopped(settings: RelaySettings) -> None:
    engine = create_engine(settings)
    publisher = create_publisher(settings, confirm_timeout=settings.publish_confirm_timeout_seconds)
    heartbeat = Heartbeat(settings.heartbeat_file, settings.heartbeat_interval_seconds)
    await publisher.start()  # returns at once while the broker is away, and keeps trying
    relaying = asyncio.create_task(
        run_relay(
            create_sessionmaker(engine),
            publisher,
            interval_seconds=settings.outbox_relay_interval_seconds,
            on_round=heartbeat.beat,
        )
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, relaying.cancel)
    log.info("outbox relay running")
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await relaying
    finally:
        await publisher.close()
        await engine.dispose()
    log.info("outbox relay stopped")
