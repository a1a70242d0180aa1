from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import Boolean, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, Timestamps


class PhotoStatus(StrEnum):
    NONE = "none"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Profile(Timestamps, Base):
    """What a person says about themselves beyond the account (whose nickname it edits).

    `version` moves with every change of the representation, the photo's included: it is the
    profile's ETag and the compare-and-set every write makes. `photo_upload` numbers the person's
    photo uploads; the storage worker's result applies only to the upload still current.
    """

    __tablename__ = "profiles"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(default=1)
    province_code: Mapped[str | None] = mapped_column(String(2))
    district_code: Mapped[str | None] = mapped_column(String(5))
    language: Mapped[str] = mapped_column(String(2), default="ko")
    notify_weekly_report: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_character: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    photo_status: Mapped[PhotoStatus] = mapped_column(
        Enum(
            PhotoStatus,
            native_enum=False,
            length=16,
            values_callable=lambda statuses: [status.value for status in statuses],
        ),
        default=PhotoStatus.NONE,
    )
    photo_upload: Mapped[int] = mapped_column(default=0)
    photo_key: Mapped[str | None] = mapped_column(String(255))
    photo_thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    photo_error: Mapped[str | None] = mapped_column(String(64))
