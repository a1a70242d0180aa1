"""Queries scan-api runs; no commits here (the request boundary commits)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.db.models import Scan


async def get_users_scan(
    session: AsyncSession, user_id: uuid.UUID, scan_id: uuid.UUID
) -> Scan | None:
    return await session.scalar(select(Scan).where(Scan.id == scan_id, Scan.user_id == user_id))


async def get_by_idempotency_key(
    session: AsyncSession, user_id: uuid.UUID, key: str
) -> Scan | None:
    return await session.scalar(
        select(Scan).where(Scan.user_id == user_id, Scan.idempotency_key == key)
    )


async def list_users_scans(
    session: AsyncSession, user_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> list[Scan]:
    """Newest first (ids are time-ordered), starting after the cursor's scan."""
    query = select(Scan).where(Scan.user_id == user_id)
    if before is not None:
        query = query.where(Scan.id < before)
    return list((await session.scalars(query.order_by(Scan.id.desc()).limit(limit))).all())
