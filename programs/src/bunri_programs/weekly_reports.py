"""`bunri my weekly-reports`: write the weekly report of every active person, once, or in a loop
for a scheduler container (`--every SECONDS`: each round writes the last complete week's, which
costs nothing once they are written).

The model writes the reports too when one is configured (BUNRI_LLM_BASE_URL): a chat batch job
per report, published to `chat.batch` (BUNRI_BROKER_URL), or kept in the outbox while the broker
is away. The work itself is `bunri.reports.weekly`, in the library, so that the ops image runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import date
from typing import TYPE_CHECKING

import typer

from bunri.chat.settings import LlmSettings
from bunri.heartbeat import Heartbeat, HeartbeatSettings
from bunri.logging import configure_logging, get_logger
from bunri.settings import BrokerSettings

# The work's modules (SQLAlchemy, aio-pika) are imported when it runs: `bunri`'s other commands,
# the containers' health checks among them, need not load them.
if TYPE_CHECKING:
    from bunri.messaging.publisher import Publisher
    from bunri.reports.weekly import GenerationSummary

log = get_logger(__name__)

weekly_reports_app = typer.Typer(
    add_completion=False, help="Weekly reports: written for every active person."
)


class WeeklyReportSettings(HeartbeatSettings, LlmSettings, BrokerSettings):
    service_name: str = "weekly-reports"


def _week(value: str | None) -> date | None:
    from bunri.db.base import utcnow
    from bunri.reports.weekly import last_complete_week

    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter("a date, YYYY-MM-DD", param_hint="--week") from exc
    if day.weekday() != 0:
        raise typer.BadParameter(f"{value} is not a Monday", param_hint="--week")
    if day > last_complete_week(utcnow()):
        raise typer.BadParameter("that week has not ended yet (Asia/Seoul)", param_hint="--week")
    return day


@weekly_reports_app.callback(invoke_without_command=True)
def weekly_reports(
    week: str | None = typer.Option(
        None,
        "--week",
        metavar="YYYY-MM-DD",
        help="The Monday of the week to write (default: the last complete week, Asia/Seoul).",
    ),
    every: float = typer.Option(
        0,
        "--every",
        min=0,
        metavar="SECONDS",
        help="0: run once. Otherwise run until stopped, writing the last complete week's "
        "reports every SECONDS.",
    ),
    chunk_users: int | None = typer.Option(
        None, "--chunk-users", min=1, help="People per transaction (default 500)."
    ),
) -> None:
    """Write the weekly report of every person who scanned that week and wants it (not
    deleted, the weekly report not turned off); reports already written stay as they are."""
    from bunri.reports.weekly import DEFAULT_CHUNK_USERS

    chunk_users = chunk_users or DEFAULT_CHUNK_USERS
    chosen = _week(week)
    if chosen is not None and every:
        raise typer.BadParameter("--every writes the last complete week: leave --week out")
    settings = WeeklyReportSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    use_model = bool(settings.llm_base_url)
    if every:
        asyncio.run(_loop(settings, every, chunk_users, use_model))
        return
    summary = asyncio.run(_once(settings, chosen, chunk_users, use_model))
    typer.echo(summary.describe())


async def _once(
    settings: WeeklyReportSettings, week: date | None, chunk_users: int, use_model: bool
) -> GenerationSummary:
    from bunri.db.base import utcnow
    from bunri.db.engine import create_engine
    from bunri.reports.weekly import generate_weekly_reports, last_complete_week

    engine = create_engine(settings)
    publisher = await _publisher(settings, use_model)
    try:
        return await generate_weekly_reports(
            engine,
            publisher,
            week or last_complete_week(utcnow()),
            chunk_users=chunk_users,
            use_model=use_model,
        )
    finally:
        if publisher is not None:
            await publisher.close()
        await engine.dispose()


async def _publisher(settings: WeeklyReportSettings, use_model: bool) -> Publisher | None:
    from bunri.messaging.publisher import create_publisher

    if not use_model:
        return None
    publisher = create_publisher(settings, confirm_timeout=settings.publish_confirm_timeout_seconds)
    await publisher.start()  # returns at once while the broker is away: jobs go to the outbox
    return publisher


async def _loop(
    settings: WeeklyReportSettings,
    every: float,
    chunk_users: int,
    use_model: bool,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Round after round until `stop` is set (by default: until SIGTERM or SIGINT); a failed
    round is logged, and the next one tries again. Beats a heartbeat (for `bunri worker alive`)
    after each chunk and while it waits."""
    from bunri.db.base import utcnow
    from bunri.db.engine import create_engine
    from bunri.reports.weekly import generate_weekly_reports, last_complete_week

    engine = create_engine(settings)
    publisher = await _publisher(settings, use_model)
    heartbeat = Heartbeat(settings.heartbeat_file, settings.heartbeat_interval_seconds)
    signals = (signal.SIGTERM, signal.SIGINT) if stop is None else ()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    log.info("weekly reports scheduled", every_seconds=every, use_model=use_model)
    try:
        while not stop.is_set():
            try:
                summary = await generate_weekly_reports(
                    engine,
                    publisher,
                    last_complete_week(utcnow()),
                    chunk_users=chunk_users,
                    use_model=use_model,
                    on_chunk=heartbeat.beat,
                )
            except Exception:  # the database away: the next round tries again
                log.exception("weekly reports round failed")
            else:
                typer.echo(summary.describe())
            next_round = loop.time() + every
            while not stop.is_set() and loop.time() < next_round:
                heartbeat.beat()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(1.0, next_round - loop.time()))
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        if publisher is not None:
            await publisher.close()
        await engine.dispose()
    log.info("weekly reports stopped")
