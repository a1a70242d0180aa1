"""`bunri rewards`: reward campaigns, points for many people at once (bunri.character.campaigns).

`grant` starts a campaign in one transaction (the campaign, its chunks, their task messages in
the outbox); the character worker grants it chunk by chunk, exactly once per person. `status`
shows how far it got; `resume` sends the chunks not yet done again (after a dead-lettered
chunk: sending a done one again changes nothing).
"""

from __future__ import annotations

import getpass
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from bunri.settings import BunriSettings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

rewards_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Reward campaigns: grant, status, resume."
)


def _session() -> Session:
    from bunri.db.sync import create_sync_engine, create_sync_sessionmaker

    return create_sync_sessionmaker(create_sync_engine(BunriSettings(), pool_size=1))()


def _show(campaign: Any) -> None:
    state = "finished" if campaign.finished_at else "granting"
    typer.echo(
        f"{campaign.name}: {campaign.points} points, {campaign.audience}; {state}: "
        f"{campaign.chunks_done}/{campaign.chunks_total} chunks, "
        f"{campaign.users_granted} granted, {campaign.users_skipped} skipped "
        f"of {campaign.users_total}"
    )


@rewards_app.command()
def grant(
    campaign: str = typer.Option(..., help="Its name: lower-case letters, digits, . _ -"),
    points: int = typer.Option(..., help="Points each person gets (1 to 100000)."),
    everyone: bool = typer.Option(False, "--all", help="Everyone with an account now."),
    users: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="A file of account ids, one a line (# comments)."
    ),
    wait: bool = typer.Option(False, help="Follow the campaign until it is granted."),
) -> None:
    """Start a campaign. A bad user file refuses it whole, naming the line; nothing is granted."""
    from bunri.character.campaigns import parse_user_lines, start_campaign
    from bunri.errors import BunriError

    if everyone == (users is not None):
        raise typer.BadParameter("give either --all or --users FILE")
    try:
        listed = None
        if users is not None:
            with users.open(encoding="utf-8") as lines:
                listed = parse_user_lines(lines)
        with _session() as session:
            started = start_campaign(
                session,
                name=campaign,
                points=points,
                started_by=f"cli:{getpass.getuser()}",
                users=listed,
            )
            session.commit()
            _show(started)
    except BunriError as exc:
        typer.echo(f"error: {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    if wait:
        _follow(campaign)


@rewards_app.command()
def status(
    campaign: str, wait: bool = typer.Option(False, help="Follow it until granted.")
) -> None:
    """How far a campaign has got."""
    if wait:
        _follow(campaign)
        return
    _show(_read(campaign))


@rewards_app.command()
def resume(campaign: str) -> None:
    """Send the campaign's chunks not yet done again (through the outbox)."""
    from sqlalchemy import select

    from bunri.character.campaigns import chunk_message
    from bunri.db.models import OutboxMessage, RewardCampaignChunk
    from bunri.messaging.outbox import outbox_columns

    _read(campaign)
    with _session() as session:
        pending = list(
            session.scalars(
                select(RewardCampaignChunk.number).where(
                    RewardCampaignChunk.campaign == campaign, RewardCampaignChunk.done_at.is_(None)
                )
            )
        )
        for number in pending:
            session.add(OutboxMessage(**outbox_columns(chunk_message(campaign, number))))
        session.commit()
    typer.echo(f"{len(pending)} chunk(s) sent again")


def _read(name: str) -> Any:
    from bunri.character.campaigns import get_campaign
    from bunri.errors import BunriError

    try:
        with _session() as session:
            return get_campaign(session, name)
    except BunriError as exc:
        typer.echo(f"error: {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(1) from None


def _follow(name: str) -> None:
    started = time.monotonic()
    while True:
        campaign = _read(name)
        _show(campaign)
        if campaign.finished_at is not None:
            elapsed = time.monotonic() - started
            typer.echo(f"granted in {elapsed:.1f} s (followed from when this command began)")
            return
        time.sleep(1)
