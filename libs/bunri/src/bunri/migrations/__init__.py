"""Alembic migrations for the one database every service shares, driven from code or `bunri db`."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bunri.db.models import Base
from bunri.locations.schema import POSTGIS_TABLES, has_collection_points
from bunri.locations.schema import TABLE as COLLECTION_POINTS

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:  # generated migrations come out formatted like the rest of the code
        hooks = {"ruff_format": "format --quiet", "ruff_fix": "check --fix --quiet --exit-zero"}
        config.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
        for hook, options in hooks.items():
            config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
            config.set_section_option("post_write_hooks", f"{hook}.executable", ruff)
            config.set_section_option(
                "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
            )
    config.attributes["connection"] = connection
    return config


def next_revision_id() -> str:
    """Numbered revisions (0001, 0002, ...) read in order, and two branches that both add 0007
    collide loudly instead of forking the history."""
    numbers = [int(path.name[:4]) for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py")]
    return f"{max(numbers, default=0) + 1:04d}"


# Held for the migration's transaction: nodes that start together (every API node upgrades at
# boot) take turns, and the later ones find nothing left to do.
_MIGRATION_LOCK_KEY = int.from_bytes(b"bunri-db", "big") >> 1


async def upgrade(connection: AsyncConnection, revision: str = "head") -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )
    await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(connection: AsyncConnection, revision: str) -> None:
    await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def autogenerate(connection: AsyncConnection, message: str) -> str:
    """Write a migration for what the models have and the database lacks; returns its path."""

    def write(sync: Connection) -> str:
        script = command.revision(
            alembic_config(sync), message=message, autogenerate=True, rev_id=next_revision_id()
        )
        assert script is not None
        assert not isinstance(script, list)
        return str(script.path)

    return await connection.run_sync(write)


async def pending_model_changes(connection: AsyncConnection) -> list[Any]:
    """What autogenerate would still emit: empty when the models and the migrations agree."""

    def compare(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(
            sync, opts={"compare_type": True, "include_object": include_object_for(sync)}
        )
        return list(compare_metadata(context, Base.metadata))

    return await connection.run_sync(compare)


def include_object_for(connection: Connection) -> Any:
    """Leave out what PostGIS owns, and collection points where the database has no PostGIS
    (its migration skipped them on purpose)."""
    skipped = set(POSTGIS_TABLES)
    if not has_collection_points(connection):
        skipped.add(COLLECTION_POINTS)

    def include_object(item: Any, name: str | None, type_: str, *_: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(item, "table", None), "name", None)
        return table not in skipped

    return include_object


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(
        lambda sync: MigrationContext.configure(sync).get_current_revision()
    )


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def create_database_if_missing(url: str) -> bool:
    """Create the PostgreSQL database named in `url` if it does not exist; True when created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return False
    name = parsed.database
    server = create_async_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        async with server.connect() as conn:
            exists_query = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if await conn.scalar(exists_query, {"name": name}):
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            try:
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
            except DBAPIError:
                # Another node created it at the same moment (PostgreSQL says so as a duplicate
                # name or a unique violation on its catalog): fine, unless it still is not there.
                if not await conn.scalar(exists_query, {"name": name}):
                    raise
                return False
            return True
    finally:
        await server.dispose()
