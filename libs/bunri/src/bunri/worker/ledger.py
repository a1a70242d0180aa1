"""A worker's view of scans: read one, move it along by compare-and-set, announce each move.

Every successful transition is committed, then published as a progress event; a transition that
matches no row (someone else moved the scan first) changes nothing and announces nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import redis
from sqlalchemy import Update
from sqlalchemy.orm import Session, sessionmaker

from bunri.db.base import utcnow
from bunri.db.models import Scan, ScanStatus
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.logging import get_logger
from bunri.messaging.events import DomainEvent, record_event
from bunri.messaging.topology import SCAN_COMPLETED
from bunri.metrics.pipeline import SCANS_COMPLETED, SCANS_FAILED
from bunri.scans import transitions
from bunri.scans.events import ScanEvent, publish_event
from bunri.settings import BunriSettings
from bunri.worker.visibility import read_when_visible

log = get_logger(__name__)


def create_ledger(
    settings: BunriSettings, *, pool_size: int = 5, poolclass: Any = None
) -> ScanLedger:
    """A ledger on its own engine and Redis client, every call bounded by a timeout (a worker
    must never hang on a dependency that stopped answering)."""
    engine = create_sync_engine(settings, pool_size=pool_size, poolclass=poolclass)
    events = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    return ScanLedger(create_sync_sessionmaker(engine), events)


def completed_event(scan: Scan) -> DomainEvent:
    """`scan.completed`: what the scan was found to be, and how sure the answer was."""
    classification = (scan.result or {}).get("classification") or {}
    return DomainEvent(
        SCAN_COMPLETED,
        scan.user_id,
        scan.id,
        {
            "major": classification.get("major"),
            "middle": classification.get("middle"),
            "minor": classification.get("minor"),
            "unsure": classification.get("unsure"),
            "confidence": classification.get("confidence"),
            "image_digest": scan.image_digest.hex() if scan.image_digest else None,
        },
        occurred_at=scan.completed_at or utcnow(),
    )


class ScanLedger:
    def __init__(self, sessions: sessionmaker[Session], redis_client: redis.Redis) -> None:
        self.sessions = sessions
        self._redis = redis_client

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    def get(self, scan_id: uuid.UUID) -> Scan | None:
        with self.sessions() as session:
            return session.get(Scan, scan_id)

    def wait_for(self, scan_id: uuid.UUID, timeout_seconds: float) -> Scan | None:
        """The scan, waiting a little if it is not visible yet: scan-api publishes the task just
        before committing the scan, so a fast worker can see the message first."""
        return read_when_visible(
            lambda: self.get(scan_id), lambda scan: scan is not None, timeout_seconds
        )

    def advance(self, scan: Scan, to: ScanStatus, **values: Any) -> Scan | None:
        """`scan` moved to `to`, or None if it had moved on since it was read."""
        return self._apply(transitions.advance(scan, to, **values))

    def fail(self, scan: Scan, code: str, message: str, **values: Any) -> Scan | None:
        log.warning("scan failed", scan_id=str(scan.id), code=code, reason=message)
        return self._apply(transitions.fail(scan, code, message, **values))

    def fail_by_id(self, scan_id: uuid.UUID, code: str, message: str, **values: Any) -> Scan | None:
        """Fail whatever state the scan is in now, unless it already finished."""
        for _ in range(5):  # lost races re-read; a scan has only so many states to go through
            scan = self.get(scan_id)
            if scan is None or scan.status.terminal:
                return None
            failed = self.fail(scan, code, message, **values)
            if failed is not None:
                return failed
        return None

    def complete_by_id(self, scan_id: uuid.UUID, result: dict[str, Any]) -> str | None:
        """Complete the scan with `result` from whichever state it reached on the way (a result
        computed while the database was away finds it `stored` or `analyzing`); what happened,
        or None if the scan is not that far yet."""
        for _ in range(5):
            scan = self.get(scan_id)
            if scan is None:
                return "no_scan"
            if scan.status.terminal:
                return f"already_{scan.status}"
            if scan.status is ScanStatus.STORED:
                self.advance(scan, ScanStatus.ANALYZING)
                continue
            if scan.status is not ScanStatus.ANALYZING:
                return None
            if self.advance(scan, ScanStatus.COMPLETED, result=result) is not None:
                return "completed"
        return None

    def _apply(self, statement: Update) -> Scan | None:
        with self.sessions() as session:
            updated = session.scalars(statement.returning(Scan)).first()
            if updated is not None and updated.status is ScanStatus.COMPLETED:
                record_event(session, completed_event(updated))
            session.commit()
        if updated is not None:
            # Counted where the compare-and-set won: once per scan, whoever wrote it.
            if updated.status is ScanStatus.COMPLETED:
                SCANS_COMPLETED.inc()
            elif updated.status is ScanStatus.FAILED:
                SCANS_FAILED.labels(updated.error_code or "unknown").inc()
            try:
                publish_event(self._redis, ScanEvent.of(updated))
            except redis.RedisError as exc:
                # Progress events are a convenience: the database holds the truth, and the SSE
                # endpoint falls back to it.
                log.warning(
                    "progress event not published", scan_id=str(updated.id), error=repr(exc)
                )
        return updated
