"""A person reaches their own scans only; anyone else's scan is as absent as one that never was
(404, not 403: whether a scan id exists is itself not theirs to learn)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.db.models import Scan
from bunri.errors import NotFound


class ScanNotFound(NotFound):
    code = "scan_not_found"
    message = "There is no such scan."


async def owned_scan(session: AsyncSession, user_id: uuid.UUID, scan_id: uuid.UUID) -> Scan:
    scan = await session.scalar(select(Scan).where(Scan.id == scan_id, Scan.user_id == user_id))
    if scan is None:
        raise ScanNotFound()
    return scan
