from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, Timestamps

# Class names are the taxonomy's (Korean, a few words at most).
CLASS_NAME_LENGTH = 64


class ScanFeedback(Timestamps, Base):
    """What the owner of a completed scan says the photo really shows (DESIGN.md section 3,
    "Feedback"): one row per scan, replaced when the owner corrects it again.

    The image key and the model's answer are copied from the scan when the feedback is given, so
    that `bunri feedback export` reads this table alone: the photo it fetches and the prediction
    it reports are the ones the owner was correcting.
    """

    __tablename__ = "scan_feedback"
    # `bunri feedback export --since` reads the feedback given or changed since a moment.
    __table_args__ = (Index("ix_scan_feedback_updated_at", "updated_at"),)

    scan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scans.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    correct_major: Mapped[str] = mapped_column(String(CLASS_NAME_LENGTH))
    correct_middle: Mapped[str] = mapped_column(String(CLASS_NAME_LENGTH))
    correct_minor: Mapped[str | None] = mapped_column(String(CLASS_NAME_LENGTH))
    note: Mapped[str | None] = mapped_column(Text)
    # The scan's stored original (`scans.original_key`), the photo an export fetches.
    image_key: Mapped[str | None] = mapped_column(String(255))
    predicted_major: Mapped[str | None] = mapped_column(String(CLASS_NAME_LENGTH))
    predicted_middle: Mapped[str | None] = mapped_column(String(CLASS_NAME_LENGTH))
    predicted_minor: Mapped[str | None] = mapped_column(String(CLASS_NAME_LENGTH))
    predicted_confidence: Mapped[float | None]
    predicted_unsure: Mapped[bool | None]

    @property
    def agrees(self) -> bool:
        """Whether the model had the middle class right: the level a disposal guide belongs to,
        so the answer the owner was given was the right one. Middle names are unique across the
        taxonomy, so the major class agrees too."""
        return self.correct_middle == self.predicted_middle
