"""Queries scan-api runs; no commits here (the request boundary commits).

The accept path's statements are Core on a plain connection: the ORM's unit of work would cost
each upload about a millisecond of CPU for a single INSERT.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, bindparam, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bunri.db.models import Scan, ScanFeedback, ScanStatus
from bunri.db.upsert import upsert_insert

_INSERT_SCAN = insert(Scan)
_KEYED_SCAN = select(Scan.id, Scan.status, Scan.created_at, Scan.request_digest)


async def insert_scan(connection: AsyncConnection, values: dict[str, Any]) -> None:
    await connection.execute(_INSERT_SCAN, values)


# Spelled as the partial index ix_scans_user_id_in_flight is, literals and all: a bound
# parameter would keep PostgreSQL from matching the index's predicate.
_IN_FLIGHT = text(
    "SELECT count(*) FROM scans WHERE user_id = :user_id AND status NOT IN ('completed', 'failed')"
).bindparams(bindparam("user_id", type_=Uuid()))


async def count_in_flight(connection: AsyncConnection, user_id: uuid.UUID) -> int:
    """The person's scans not yet completed or failed."""
    return int(await connection.scalar(_IN_FLIGHT, {"user_id": user_id}) or 0)


async def find_keyed_scan(
    connection: AsyncConnection, user_id: uuid.UUID, key: str
) -> tuple[uuid.UUID, ScanStatus, datetime, bytes | None] | None:
    """(id, status, created_at, request_digest) of the user's scan made with this
    Idempotency-Key."""
    row = (
        await connection.execute(
            _KEYED_SCAN.where(Scan.user_id == user_id, Scan.idempotency_key == key)
        )
    ).first()
    return None if row is None else (row.id, row.status, row.created_at, row.request_digest)


async def release_idempotency_key(connection: AsyncConnection, scan_id: uuid.UUID) -> None:
    await connection.execute(update(Scan).where(Scan.id == scan_id).values(idempotency_key=None))


async def list_users_scans(
    session: AsyncSession, user_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[Scan]:
    """Newest first (ids are time-ordered), starting after the cursor's scan."""
    query = select(Scan).where(Scan.user_id == user_id)
    if before is not None:
        query = query.where(Scan.id < before)
    return list((await session.scalars(query.order_by(Scan.id.desc()).limit(limit))).all())


async def get_feedback(session: AsyncSession, scan_id: uuid.UUID) -> ScanFeedback | None:
    return await session.get(ScanFeedback, scan_id)


async def feedback_for_scans(
    session: AsyncSession, scan_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ScanFeedback]:
    if not scan_ids:
        return {}
    found = await session.scalars(select(ScanFeedback).where(ScanFeedback.scan_id.in_(scan_ids)))
    return {feedback.scan_id: feedback for feedback in found}


async def upsert_feedback(session: AsyncSession, values: dict[str, Any]) -> ScanFeedback:
    """Insert the scan's feedback, or replace every field of the one it has but `created_at`,
    in one statement: two requests at once leave one row, never a unique-key error."""
    inserting = upsert_insert(session, ScanFeedback).values(values)
    replaced = {
        name: inserting.excluded[name] for name in values if name not in ("scan_id", "created_at")
    }
    statement = inserting.on_conflict_do_update(
        index_elements=[ScanFeedback.scan_id], set_=replaced
    ).returning(ScanFeedback)
    result = await session.scalars(statement, execution_options={"populate_existing": True})
    feedback: ScanFeedback = result.one()
    return feedback
