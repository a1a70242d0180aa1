"""INSERT ... ON CONFLICT for whichever database a connection is on: PostgreSQL, or the SQLite
that `bunri standalone` can run on. Both dialects' constructs take the same arguments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session


def upsert_insert(bind: Session | AsyncSession | Connection | AsyncConnection, table: Any) -> Any:
    """`insert(table)` with `on_conflict_do_nothing` / `on_conflict_do_update` for `bind`'s
    database."""
    if isinstance(bind, Session | AsyncSession):
        dialect = bind.get_bind().dialect.name
    else:
        dialect = bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
