from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey

IN_FLIGHT = "status NOT IN ('completed', 'failed')"


class ScanStatus(StrEnum):
    QUEUED = "queued"
    STORING = "storing"
    STORED = "stored"
    ANALYZING = "analyzing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ScanStatus.COMPLETED, ScanStatus.FAILED)


class Scan(UUIDPrimaryKey, Timestamps, Base):
    """One photo on its way from upload to a disposal answer.

    Every transition is a compare-and-set on (status, version), so a stale or duplicated worker
    changes nothing; `version` is also the id of the transition's progress event.
    """

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        Index("ix_scans_user_id_id", "user_id", "id"),
        # A person's scans in flight, counted on every upload (scan-api's limits): only those rows.
        Index(
            "ix_scans_user_id_in_flight",
            "user_id",
            postgresql_where=text(IN_FLIGHT),
            sqlite_where=text(IN_FLIGHT),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[ScanStatus] = mapped_column(
        Enum(
            ScanStatus,
            native_enum=False,
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=ScanStatus.QUEUED,
    )
    progress: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)
    note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of what was uploaded (image and note), kept with an idempotency key: the same key
    # with other content conflicts.
    request_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # SHA-256 of the uploaded bytes: the same photo sent again is recognised (character points).
    image_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    media_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    original_key: Mapped[str | None] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
