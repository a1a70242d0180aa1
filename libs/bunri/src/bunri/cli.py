"""`bunri`: the operator's command line (database migrations for now)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bunri import migrations
from bunri.settings import BunriSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Bunri's command line.")
db = typer.Typer(no_args_is_help=True, help="The database: migrations and checks.")
app.add_typer(db, name="db")

T = TypeVar("T")


def _with_connection(action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def run() -> T:
        engine = create_async_engine(BunriSettings().database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                return await action(connection)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@db.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Create the database if it is missing, then migrate it to REVISION (default: head)."""
    url = BunriSettings().database_url
    if asyncio.run(migrations.create_database_if_missing(url)):
        typer.echo("created the database")
    _with_connection(lambda connection: migrations.upgrade(connection, revision))
    typer.echo(f"database at {_with_connection(migrations.current_revision)}")


@db.command()
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    _with_connection(lambda connection: migrations.downgrade(connection, revision))
    typer.echo(f"database at {_with_connection(migrations.current_revision)}")


@db.command()
def revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    path = _with_connection(lambda connection: migrations.autogenerate(connection, message))
    typer.echo(f"wrote {path}")


@db.command()
def check() -> None:
    """Fail unless the database is at head and the models match the migrations."""
    current = _with_connection(migrations.current_revision)
    head = migrations.head_revision()
    if current != head:
        typer.echo(f"database at {current}, migrations at {head}: run 'bunri db upgrade'", err=True)
        raise typer.Exit(1)
    changes = _with_connection(migrations.pending_model_changes)
    if changes:
        typer.echo(
            "models and migrations disagree; 'alembic revision --autogenerate' would emit:",
            err=True,
        )
        for change in changes:
            typer.echo(f"  {change}", err=True)
        raise typer.Exit(1)
    typer.echo(f"database at head ({head}); models and migrations agree")


def main() -> None:
    app()
