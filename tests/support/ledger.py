"""A worker's ledger on the test database, and scans (each of a new user) put straight into it."""

from __future__ import annotations

import uuid

import redis

from bunri.db.models import Scan, ScanStatus, User
from bunri.db.sync import create_sync_engine, create_sync_sessionmaker
from bunri.settings import BunriSettings
from bunri.worker.ledger import ScanLedger


def ledger_on(database_url: str, redis_url: str) -> ScanLedger:
    settings = BunriSettings(database_url=database_url, redis_url=redis_url)
    return ScanLedger(
        create_sync_sessionmaker(create_sync_engine(settings, pool_size=1)),
        redis.Redis.from_url(redis_url),
    )


def new_user(ledger: ScanLedger) -> uuid.UUID:
    with ledger.sessions() as session:
        user = User(email=f"{uuid.uuid4()}@example.com", password_hash="x", nickname="n")
        session.add(user)
        session.commit()
        return user.id


def new_scan(
    ledger: ScanLedger, status: ScanStatus, version: int = 3
) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, scan id) of a new user's scan in `status`."""
    user_id = new_user(ledger)
    with ledger.sessions() as session:
        scan = Scan(
            user_id=user_id,
            status=status,
            progress=0,
            version=version,
            request_digest=b"\0" * 32,
            media_type="image/jpeg",
            size_bytes=1,
            width=1,
            height=1,
        )
        session.add(scan)
        session.commit()
        return user_id, scan.id
