"""Accepting a scan: validate, record, hand to the storage worker; all before answering 202.

The accept path does one database commit and one confirmed publish, and decodes nothing beyond the
image header. The message is published before the commit: if the broker cannot be reached, the
message goes into the outbox in the same transaction instead, so an accepted scan always has its
image somewhere durable (the queue or the outbox). If the commit then fails, the storage worker
finds no scan for the message and drops it.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bunri.db.base import utcnow
from bunri.db.models import Scan, ScanStatus
from bunri.ids import uuid7
from bunri.images import inspect_upload
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable
from bunri.messaging.outbox import outbox_row
from bunri.messaging.protocol import TaskMessage, task_message
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from scan_api import repository
from scan_api.errors import IdempotencyConflict
from scan_api.settings import ScanApiSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Accepted:
    scan: Scan
    replayed: bool


def store_image_message(scan: Scan, image: bytes, priority: int) -> TaskMessage:
    return task_message(
        STORE_SCAN_IMAGE,
        task_id=f"{STORE_SCAN_IMAGE}:{scan.id}",
        args=[str(scan.id)],
        kwargs={"media_type": scan.media_type},
        binary_kwargs={"image": image},
        priority=priority,
        argsrepr=f"('{scan.id}',)",
        kwargsrepr=f"{{'image': <{len(image)} bytes>, 'media_type': '{scan.media_type}'}}",
    )


def request_digest(image: bytes, note: str | None) -> bytes:
    digest = hashlib.sha256(image)
    digest.update(b"\0" + (note or "").encode())
    return digest.digest()


class ScanService:
    def __init__(self, settings: ScanApiSettings, publisher: Publisher) -> None:
        self._settings = settings
        self._publisher = publisher

    async def accept(
        self,
        session: AsyncSession,
        *,
        user_id: uuid.UUID,
        image: bytes,
        note: str | None,
        idempotency_key: str | None,
    ) -> Accepted:
        info = inspect_upload(
            image,
            max_bytes=self._settings.max_image_bytes,
            max_pixels=self._settings.max_image_pixels,
        )
        digest = request_digest(image, note)
        if idempotency_key is not None:
            earlier = await self._earlier_attempt(session, user_id, idempotency_key, digest)
            if earlier is not None:
                return Accepted(earlier, replayed=True)
        scan = Scan(
            id=uuid7(),
            user_id=user_id,
            note=note,
            idempotency_key=idempotency_key,
            request_digest=digest,
            media_type=info.media_type,
            size_bytes=len(image),
            width=info.width,
            height=info.height,
            # Column defaults would apply only at the flush; the answer needs them before.
            status=ScanStatus.QUEUED,
            progress=0,
            version=1,
        )
        if idempotency_key is None:
            # Nothing can conflict, so no savepoint (two round trips saved).
            session.add(scan)
        else:
            try:
                async with session.begin_nested():
                    session.add(scan)
            except IntegrityError:
                # The same key, at the same moment, from another request of this user: that
                # one won.
                earlier = await self._earlier_attempt(session, user_id, idempotency_key, digest)
                assert earlier is not None
                return Accepted(earlier, replayed=True)
        message = store_image_message(scan, image, self._settings.scan_priority)
        # The insert travels to the database while the broker confirms the message; the commit
        # still waits for the confirm, so that a failed publish can land in the outbox.
        publishing = asyncio.create_task(self._publisher.publish(message))
        try:
            await session.flush()
        finally:
            await asyncio.wait([publishing])
            # Read even when the flush failed (its error is then the one raised), so that a
            # failed publish is never left unretrieved.
            failure = publishing.exception()
        if isinstance(failure, BrokerUnavailable):
            log.warning(
                "broker unavailable; scan kept in the outbox",
                scan_id=str(scan.id),
                error=str(failure),
            )
            session.add(outbox_row(message))
        elif failure is not None:
            raise failure
        return Accepted(scan, replayed=False)

    async def _earlier_attempt(
        self, session: AsyncSession, user_id: uuid.UUID, key: str, digest: bytes
    ) -> Scan | None:
        """The scan this key already made within the window; a key older than the window is
        released for reuse."""
        earlier = await repository.get_by_idempotency_key(session, user_id, key)
        if earlier is None:
            return None
        window = timedelta(seconds=self._settings.idempotency_window_seconds)
        if earlier.created_at < utcnow() - window:
            earlier.idempotency_key = None
            await session.flush()
            return None
        if earlier.request_digest != digest:
            raise IdempotencyConflict()
        return earlier
