"""Alembic: an empty database migrates to head, the models agree with the migrations, and the
history walks down and up again; on PostgreSQL (production, tests) and SQLite (standalone)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from subprocess import PIPE, STDOUT

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bunri import migrations
from bunri.db.models import Base
from bunri.locations.schema import POSTGIS_TABLES
from bunri.locations.schema import TABLE as COLLECTION_POINTS
from tests.support.backends import NAMESPACE, POSTGRES_SERVER, WORKER

TABLES = {table.name for table in Base.metadata.sorted_tables}
# Collection points need PostGIS: skipped, on purpose, where the database has none.
TABLES_WITHOUT_POSTGIS = TABLES - {COLLECTION_POINTS}


@asynccontextmanager
async def fresh_postgres_database(name: str) -> AsyncIterator[str]:
    server = create_async_engine(
        f"{POSTGRES_SERVER}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    drop = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    try:
        async with server.connect() as connection:
            await connection.execute(drop)
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        async with server.connect() as connection:
            await connection.execute(drop)
        await server.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
async def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    async with AsyncExitStack() as stack:
        if request.param == "postgresql":
            url = await stack.enter_async_context(
                fresh_postgres_database(f"bunri_migrations_{NAMESPACE}{WORKER}")
            )
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / 'bunri.db'}"
        engine = create_async_engine(url, poolclass=NullPool)
        yield engine
        await engine.dispose()


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names) - {"alembic_version"} - POSTGIS_TABLES


async def test_upgrade_check_downgrade_upgrade(empty_database: AsyncEngine) -> None:
    engine = empty_database
    expected = TABLES if engine.dialect.name == "postgresql" else TABLES_WITHOUT_POSTGIS
    async with engine.begin() as connection:
        await migrations.upgrade(connection)
    async with engine.connect() as connection:
        assert await migrations.current_revision(connection) == migrations.head_revision()
        assert await migrations.pending_model_changes(connection) == []
    assert await table_names(engine) == expected

    async with engine.begin() as connection:
        await migrations.downgrade(connection, "base")
    assert await table_names(engine) == set()

    async with engine.begin() as connection:
        await migrations.upgrade(connection)
    assert await table_names(engine) == expected


def test_revisions_form_one_numbered_line() -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    assert len(scripts.get_heads()) == 1
    revisions = [script.revision for script in scripts.walk_revisions()][::-1]
    assert revisions == [f"{number:04d}" for number in range(1, len(revisions) + 1)]


async def test_the_cli_creates_upgrades_and_checks_a_database() -> None:
    bunri = str(Path(sys.executable).parent / "bunri")
    name = f"bunri_cli_{NAMESPACE}{WORKER}"
    async with fresh_postgres_database(name) as url:
        env = {**os.environ, "BUNRI_DATABASE_URL": url}
        async with fresh_postgres_database(name):
            pass  # dropped again: `bunri db upgrade` must create it

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([bunri, "db", *args], env=env, capture_output=True, text=True)

        upgraded = run("upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        assert "created the database" in upgraded.stdout
        checked = run("check")
        assert checked.returncode == 0, checked.stderr
        assert "models and migrations agree" in checked.stdout
        assert run("downgrade", "base").returncode == 0
        behind = run("check")
        assert behind.returncode == 1
        assert "run 'bunri db upgrade'" in behind.stderr


async def test_nodes_that_upgrade_together_take_turns() -> None:
    """Every API node runs `bunri db upgrade` at boot: started at once on a missing database,
    all of them succeed and the database ends at head, created and migrated once."""
    bunri = str(Path(sys.executable).parent / "bunri")
    name = f"bunri_race_{NAMESPACE}{WORKER}"
    async with fresh_postgres_database(name) as url:
        async with fresh_postgres_database(name):
            pass  # dropped again: the nodes must create it
        env = {**os.environ, "BUNRI_DATABASE_URL": url}

        async def bunri_db(command: str) -> tuple[int, str]:
            node = await asyncio.create_subprocess_exec(
                bunri, "db", command, env=env, stdout=PIPE, stderr=STDOUT
            )
            output, _ = await node.communicate()
            return await node.wait(), output.decode()

        outcomes = await asyncio.gather(*(bunri_db("upgrade") for _ in range(4)))
        assert [code for code, _ in outcomes] == [0] * 4, outcomes
        assert sum("created the database" in output for _, output in outcomes) == 1
        assert (await bunri_db("check"))[0] == 0
