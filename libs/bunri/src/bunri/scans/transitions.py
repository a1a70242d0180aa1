"""States `queued → storing → stored → analyzing → completed | failed` as compare-and-set updates.

Each statement changes the row only if it is still in the state (and version) the writer saw, and
bumps the version; a stale or duplicated writer's update matches no row and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Update, update

from bunri.db.base import utcnow
from bunri.db.models import Scan, ScanStatus

PROGRESS = {
    ScanStatus.QUEUED: 0,
    ScanStatus.STORING: 20,
    ScanStatus.STORED: 40,
    ScanStatus.ANALYZING: 60,
    ScanStatus.COMPLETED: 100,
}

NEXT = {
    ScanStatus.QUEUED: ScanStatus.STORING,
    ScanStatus.STORING: ScanStatus.STORED,
    ScanStatus.STORED: ScanStatus.ANALYZING,
    ScanStatus.ANALYZING: ScanStatus.COMPLETED,
}


class IllegalTransition(ValueError):
    pass


def advance(scan: Scan, to: ScanStatus, **values: Any) -> Update:
    """Move `scan` (as read) to the next state `to`, setting `values` too."""
    if NEXT.get(scan.status) is not to:
        raise IllegalTransition(f"{scan.status} cannot go to {to}")
    changes: dict[str, Any] = {"status": to, "progress": PROGRESS[to], **values}
    if to is ScanStatus.COMPLETED:
        changes["completed_at"] = utcnow()
    return _compare_and_set(scan.id, scan.status, scan.version, changes)


def fail(scan: Scan, code: str, message: str, **values: Any) -> Update:
    """Move a non-terminal `scan` (as read) to `failed` with the reason (and `values`, such as the
    keys of objects already stored); progress stays where it got to."""
    if scan.status.terminal:
        raise IllegalTransition(f"{scan.status} is terminal")
    changes = {
        "status": ScanStatus.FAILED,
        "error_code": code,
        "error_message": message,
        "completed_at": utcnow(),
        **values,
    }
    return _compare_and_set(scan.id, scan.status, scan.version, changes)


def _compare_and_set(
    scan_id: uuid.UUID, status: ScanStatus, version: int, changes: dict[str, Any]
) -> Update:
    return (
        update(Scan)
        .where(Scan.id == scan_id, Scan.status == status, Scan.version == version)
        .values(version=version + 1, updated_at=utcnow(), **changes)
        .execution_options(synchronize_session=False)
    )
