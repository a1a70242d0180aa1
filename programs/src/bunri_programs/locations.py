"""`bunri locations import`: a public list of collection points into PostgreSQL (PostGIS).

The file is read whole first (`bunri.locations.importer`); a row that cannot be stored refuses
the import unless `--skip-bad-rows`, so that a list is never half imported. Then one transaction
upserts it (`bunri.locations.imports`), and after the commit the nearby cache forgets the cells
around every point written. What the file may hold: docs/locations-import.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bunri.settings import BunriSettings

if TYPE_CHECKING:
    from bunri.locations.importer import ParseResult
    from bunri.locations.imports import ImportReport

locations_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Collection points: import public lists."
)

# Exit codes besides 0: typer's own usage errors are 2 as well, before anything is read.
REFUSED = 1
NO_POSTGIS = 2
LISTED_REJECTIONS = 50


@locations_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="A CSV (UTF-8 or CP949) or GeoJSON list of points."),
    source: str = typer.Option(
        ..., help="The list's name, e.g. seoul-gangnam-battery: a row is (source, its id)."
    ),
    kind: str | None = typer.Option(
        None, help="The kind of every row (battery, lamp, ...), instead of a kind column."
    ),
    crs: str | None = typer.Option(
        None, help="The EPSG code of x/y columns or of a GeoJSON's coordinates, e.g. EPSG:5186."
    ),
    skip_bad_rows: bool = typer.Option(
        False, "--skip-bad-rows", help="Import the good rows even where some are rejected."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would change, and change nothing."
    ),
) -> None:
    """Import collection points: new ones inserted, changed ones updated, the same ones left."""
    from bunri.locations.errors import ImportFileError
    from bunri.locations.importer import parse_file

    try:
        parsed = parse_file(file, source=source, kind=kind, crs=crs)
    except ImportFileError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(REFUSED) from None
    _describe_file(parsed)
    if parsed.rejected and not skip_bad_rows:
        _list_rejected(parsed)
        typer.echo(
            f"nothing imported: {len(parsed.rejected)} row(s) rejected; correct them, or give "
            "--skip-bad-rows to import the others",
            err=True,
        )
        raise typer.Exit(REFUSED)
    from sqlalchemy.exc import SQLAlchemyError

    try:
        report = _write(parsed, commit=not dry_run)
    except SQLAlchemyError as exc:
        typer.echo(f"error: nothing imported: the database failed: {exc}", err=True)
        raise typer.Exit(REFUSED) from None
    if report is None:
        typer.echo(_no_postgis(), err=True)
        raise typer.Exit(NO_POSTGIS)
    prefix = "dry run, nothing written: would have " if dry_run else ""
    typer.echo(
        f"{prefix}inserted {report.inserted}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {len(parsed.rejected)}"
    )
    _list_rejected(parsed)
    if report.touched and not dry_run:
        _forget_cached(report.touched)


def _describe_file(parsed: ParseResult) -> None:
    columns = ", ".join(f"{name}={header}" for name, header in sorted(parsed.columns.items()))
    place = f"EPSG:{parsed.crs}" + (" (guessed from the coordinates)" if parsed.crs_guessed else "")
    typer.echo(f"read {parsed.layout}: {columns}; coordinates in {place}")
    if parsed.derived_ids:
        typer.echo(
            f"{parsed.derived_ids} row(s) without an id: each given one derived from its kind, "
            "name, address and place"
        )


def _list_rejected(parsed: ParseResult) -> None:
    from bunri.locations.importer import rejected_lines

    lines = list(rejected_lines(parsed))
    for line in lines[:LISTED_REJECTIONS]:
        typer.echo(f"  {line}")
    if len(lines) > LISTED_REJECTIONS:
        typer.echo(f"  ... and {len(lines) - LISTED_REJECTIONS} more rejected row(s)")


def _no_postgis() -> str:
    from bunri.locations.schema import NO_POSTGIS as MESSAGE

    return MESSAGE


def _write(parsed: ParseResult, *, commit: bool) -> ImportReport | None:
    """Upsert the records in one transaction; None where the database has no PostGIS."""
    from sqlalchemy.pool import NullPool

    from bunri.db.sync import create_sync_engine
    from bunri.locations.imports import import_points
    from bunri.locations.schema import has_collection_points

    engine = create_sync_engine(BunriSettings(), poolclass=NullPool)
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            if not has_collection_points(connection):
                return None
            report = import_points(connection, parsed.records)
            if not commit:
                transaction.rollback()
            return report
    finally:
        engine.dispose()


def _forget_cached(touched: Sequence[tuple[str, float, float]]) -> None:
    """Remove the cached nearby answers around the points written; a warning if Redis is away."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from bunri.locations.cache import invalidate_points

    async def forget() -> int:
        redis = Redis.from_url(
            BunriSettings().caches_redis_url, socket_connect_timeout=5, socket_timeout=5
        )
        try:
            return await invalidate_points(redis, touched)
        finally:
            await redis.aclose()

    try:
        removed = asyncio.run(forget())
    except (RedisError, OSError) as exc:
        typer.echo(
            f"warning: the import is committed, but the nearby cache could not be cleared ({exc}):"
            " answers around the changed points may be stale until their entries expire",
            err=True,
        )
        return
    typer.echo(f"forgot {removed} cached nearby answer(s) around the changed points")
