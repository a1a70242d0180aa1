from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey


class WeeklyReport(UUIDPrimaryKey, Timestamps, Base):
    """A person's week of sorting in words: from a template at once, and from the chat model
    (through `chat.batch`) when one is configured, which replaces the template's text once its
    job is answered."""

    __tablename__ = "weekly_reports"
    __table_args__ = (UniqueConstraint("user_id", "week_start"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The Monday (Asia/Seoul) the week starts on.
    week_start: Mapped[date]
    # The figures the text was written from (the week's stats).
    figures: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    text: Mapped[str] = mapped_column(Text)
    # "template" or "model".
    source: Mapped[str] = mapped_column(String(16))
    chat_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("chat_batch_jobs.id", ondelete="SET NULL")
    )
