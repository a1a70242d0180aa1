from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bunri.db.base import Base, JSONDocument, Timestamps, UUIDPrimaryKey


class OutboxMessage(UUIDPrimaryKey, Timestamps, Base):
    """A task message that could not be published when its transaction committed; the relay
    publishes it once the broker is back, then deletes it."""

    __tablename__ = "outbox_messages"

    task_id: Mapped[str] = mapped_column(String(255))
    task_name: Mapped[str] = mapped_column(String(255))
    routing_key: Mapped[str] = mapped_column(String(255))
    priority: Mapped[int]
    headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(64), server_default="application/json")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
