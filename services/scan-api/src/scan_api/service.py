"""Accepting a scan: validate, record, hand to the storage worker; all before answering 202.

The accept path decodes nothing beyond the image header and makes one database commit and one
confirmed publish. The scan's INSERT travels to the database while the broker confirms the
message, so the request waits for the slower of the two rather than for both in turn; the commit
follows the confirm, so that a message the broker could not take lands in the outbox in the same
transaction. 202 means the scan is in the database and its image somewhere durable: in the queue
or in the outbox. If the commit fails, the storage worker finds no scan for the message and drops
it; the client was not told 202.

Statements are Core on a plain connection: the ORM's unit of work would cost each upload about a
millisecond of CPU for a single INSERT.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bunri.db.base import utcnow
from bunri.db.models import ScanFeedback, ScanStatus
from bunri.feedback import check_class
from bunri.guides import UnknownClass, load_taxonomy
from bunri.ids import uuid7
from bunri.images import ImageInfo, inspect_upload
from bunri.logging import get_logger
from bunri.messaging.errors import BrokerUnavailable
from bunri.messaging.events import DomainEvent, record_event_async
from bunri.messaging.outbox import keep_in_outbox
from bunri.messaging.protocol import TaskCall, TaskMessage
from bunri.messaging.publisher import Publisher
from bunri.messaging.tasks import STORE_SCAN_IMAGE
from bunri.messaging.topology import SCAN_FEEDBACK
from bunri.scans.ownership import owned_scan
from scan_api import repository
from scan_api.errors import (
    FeedbackClassUnknown,
    FeedbackNotFound,
    IdempotencyConflict,
    ScanNotCompleted,
)
from scan_api.limits import ScanLimits
from scan_api.settings import ScanApiSettings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class KeyedUpload:
    """An upload sent with an Idempotency-Key, and the digest that a repeat of it must match."""

    key: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Accepted:
    scan_id: uuid.UUID
    status: ScanStatus
    replayed: bool


def store_image_message(
    scan_id: uuid.UUID, media_type: str, image: bytes, priority: int
) -> TaskMessage:
    return TaskCall(STORE_SCAN_IMAGE, scan_id, {"image": image, "media_type": media_type}).message(
        priority
    )


def request_digest(image: bytes, note: str | None) -> bytes:
    digest = hashlib.sha256(image)
    digest.update(b"\0" + (note or "").encode())
    return digest.digest()


def queued_scan_row(
    scan_id: uuid.UUID,
    user_id: uuid.UUID,
    info: ImageInfo,
    *,
    size_bytes: int,
    note: str | None,
    idempotency_key: str | None,
    digest: bytes | None,
    now: datetime,
) -> dict[str, Any]:
    """The `scans` row of an accepted upload, as it is inserted."""
    return {
        "id": scan_id,
        "user_id": user_id,
        "note": note,
        "idempotency_key": idempotency_key,
        "request_digest": digest,
        "media_type": info.media_type,
        "size_bytes": size_bytes,
        "width": info.width,
        "height": info.height,
        "status": ScanStatus.QUEUED,
        "progress": 0,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


class ScanService:
    def __init__(
        self,
        settings: ScanApiSettings,
        publisher: Publisher,
        engine: AsyncEngine,
        limits: ScanLimits,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._engine = engine
        self._limits = limits

    async def accept(
        self,
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
        # Only a key is ever compared with what came before; a keyless upload is not hashed.
        keyed = (
            None
            if idempotency_key is None
            else KeyedUpload(idempotency_key, request_digest(image, note))
        )
        async with self._engine.connect() as connection:
            if keyed is not None:
                earlier = await self._earlier_attempt(connection, user_id, keyed)
                if earlier is not None:
                    return earlier
            # After the replay check: a client retrying with its key is not sending more.
            priority = await self._limits.admit(connection, user_id)
            scan_id, now = uuid7(), utcnow()
            scan = queued_scan_row(
                scan_id,
                user_id,
                info,
                size_bytes=len(image),
                note=note,
                idempotency_key=idempotency_key,
                digest=None if keyed is None else keyed.digest,
                now=now,
            )
            message = store_image_message(scan_id, info.media_type, image, priority)
            publishing = asyncio.create_task(self._publisher.publish(message))
            try:
                await repository.insert_scan(connection, scan)
            except IntegrityError:
                await _settled(publishing)
                if keyed is None:
                    raise
                # The same key, at the same moment, from another request of this user: that one
                # won. The message just published names a scan that will never exist.
                await connection.rollback()
                earlier = await self._earlier_attempt(connection, user_id, keyed)
                if earlier is None:
                    raise
                return earlier
            except BaseException:
                await _settled(publishing)
                raise
            failure = await _settled(publishing)
            if isinstance(failure, BrokerUnavailable):
                log.warning(
                    "broker unavailable; scan kept in the outbox",
                    scan_id=str(scan_id),
                    error=str(failure),
                )
                await keep_in_outbox(connection, message)
            elif failure is not None:
                raise failure
            await connection.commit()
        return Accepted(scan_id, ScanStatus.QUEUED, replayed=False)

    async def _earlier_attempt(
        self, connection: AsyncConnection, user_id: uuid.UUID, keyed: KeyedUpload
    ) -> Accepted | None:
        """The scan this key already made within the window; a key older than the window is
        released for reuse."""
        earlier = await repository.find_keyed_scan(connection, user_id, keyed.key)
        if earlier is None:
            return None
        scan_id, status, created_at, earlier_digest = earlier
        window = timedelta(seconds=self._settings.idempotency_window_seconds)
        if created_at < utcnow() - window:
            await repository.release_idempotency_key(connection, scan_id)
            return None
        if earlier_digest != keyed.digest:
            raise IdempotencyConflict()
        return Accepted(scan_id, status, replayed=True)


async def _settled(task: asyncio.Task[None]) -> BaseException | None:
    """Wait for `task` and return its failure instead of raising it, so that it is retrieved
    even when another error is the one the request raises."""
    await asyncio.wait([task])
    return asyncio.CancelledError() if task.cancelled() else task.exception()


# --- Feedback (DESIGN.md section 3, "Feedback") -------------------------------------------------


@dataclass(frozen=True, slots=True)
class GivenFeedback:
    feedback: ScanFeedback
    created: bool  # the scan's first feedback, rather than a replacement


async def give_feedback(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    scan_id: uuid.UUID,
    major: str,
    middle: str,
    minor: str | None,
    note: str | None,
) -> GivenFeedback:
    """Record what the owner says a completed scan shows, replacing what they said before;
    flushed, the request commits. The model's answer and the stored photo's key are copied in,
    so that an export reads the feedback alone."""
    scan = await owned_scan(session, user_id, scan_id)
    if scan.status is not ScanStatus.COMPLETED:
        raise ScanNotCompleted()
    try:
        check_class(load_taxonomy(), major, middle, minor)
    except UnknownClass as exc:
        raise FeedbackClassUnknown(exc.detail) from exc
    predicted = (scan.result or {}).get("classification") or {}
    now = utcnow()
    feedback = await repository.upsert_feedback(
        session,
        {
            "scan_id": scan.id,
            "user_id": user_id,
            "correct_major": major,
            "correct_middle": middle,
            "correct_minor": minor,
            "note": note,
            "image_key": scan.original_key,
            "predicted_major": predicted.get("major"),
            "predicted_middle": predicted.get("middle"),
            "predicted_minor": predicted.get("minor"),
            "predicted_confidence": predicted.get("confidence"),
            "predicted_unsure": predicted.get("unsure"),
            "created_at": now,
            "updated_at": now,
        },
    )
    # A replacement keeps the row's first created_at: only a fresh row carries this one.
    created = feedback.created_at == now
    event = DomainEvent(
        SCAN_FEEDBACK,
        user_id,
        scan.id,
        {
            "correct_major": major,
            "correct_middle": middle,
            "predicted_middle": predicted.get("middle"),
            "predicted_unsure": predicted.get("unsure"),
            "first": created,
        },
    )
    await record_event_async(session, event)
    return GivenFeedback(feedback, created=created)


async def read_feedback(
    session: AsyncSession, *, user_id: uuid.UUID, scan_id: uuid.UUID
) -> ScanFeedback:
    await owned_scan(session, user_id, scan_id)
    feedback = await repository.get_feedback(session, scan_id)
    if feedback is None:
        raise FeedbackNotFound()
    return feedback
