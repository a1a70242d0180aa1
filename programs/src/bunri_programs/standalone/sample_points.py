"""The sample collection points that standalone serves where its database has PostGIS."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bunri.locations.importer import ParseResult

# The invented points of bunri.locations' data/sample_points.csv, under their own source name, so
# that a real list imported beside them (`bunri locations import`) is never touched by them.
SAMPLE_POINTS = "data/sample_points.csv"
SAMPLE_SOURCE = "sample"


async def import_sample_points(url: str) -> str:
    """Upsert the sample collection points where the database can hold them (PostgreSQL with
    PostGIS): a start after the first finds them unchanged and writes nothing. Returns the
    banner's line about locations, which says why they are off elsewhere."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from bunri.locations.errors import ImportFileError
    from bunri.locations.imports import import_points
    from bunri.locations.schema import NO_POSTGIS, has_collection_points

    backend = make_url(url).get_backend_name()
    if backend != "postgresql":
        named = "SQLite" if backend == "sqlite" else backend
        return (
            f"off: the database is {named}, and collection points need PostgreSQL with PostGIS "
            "(/api/v1/locations answers 503 dependency_unavailable)"
        )
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        parsed = _sample_points()
        async with engine.begin() as connection:
            if not await connection.run_sync(has_collection_points):
                return f"off: {NO_POSTGIS}"
            report = await connection.run_sync(import_points, parsed.records)
    except (ImportFileError, SQLAlchemyError) as exc:
        # The platform still starts: only the demo's points are missing.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"the sample points were not imported: {reason}"
    finally:
        await engine.dispose()
    if report.touched:
        await _forget_cached_answers(report.touched)
    changed = f"{report.inserted} new, {report.updated} changed" if report.touched else "unchanged"
    return (
        f"on: {len(parsed.records)} sample collection points (source {SAMPLE_SOURCE!r}, "
        f"{changed}), e.g. /api/v1/locations/nearby?lat=37.5665&lon=126.978 (Seoul City Hall)"
    )


def _sample_points() -> ParseResult:
    from importlib import resources

    from bunri.locations.importer import parse_file

    with resources.as_file(resources.files("bunri.locations").joinpath(SAMPLE_POINTS)) as path:
        return parse_file(path, source=SAMPLE_SOURCE)


async def _forget_cached_answers(touched: list[tuple[str, float, float]]) -> None:
    """Cached nearby answers around moved or new sample points (a Redis kept from an earlier run
    may hold them). Nothing serves yet, so no search can put an old answer back: no second pass."""
    from redis.asyncio import Redis

    from bunri.locations.cache import invalidate_points
    from bunri.settings import BunriSettings

    redis = Redis.from_url(BunriSettings().caches_redis_url)
    try:
        await invalidate_points(redis, touched, settle_seconds=0)
    finally:
        await redis.aclose()
